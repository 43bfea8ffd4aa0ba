/**
 * The token writes of the API and the membership consumer: create, update, revoke and rotate,
 * each one transaction over the metadata, the authentication record and the quota slot, checked
 * against the workspace plan and, for a session, the membership record it was held to.
 */
import { TransactWriteCommand, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { config } from '#shared/config.ts';
import { addServiceCounters, type CounterChange, counterTransactItems } from '#shared/counters.ts';
import { db, tableName } from '#shared/db/client.ts';
import { cancellationCodes, conditionFailedAt, isTransactionConflict } from '#shared/db/conditions.ts';
import { keys } from '#shared/db/keys.ts';
import { ConflictError } from '#shared/errors.ts';
import type { WorkspaceRole } from '#shared/http/caller.ts';
import { newId } from '#shared/ids.ts';
import { generateToken } from './format.ts';
import { membershipUnchangedCheck } from './member-record.ts';
import { getWorkspacePlan, planUnchangedCheck, type WorkspacePlan } from './plans.ts';
import { activeToken } from './token-counters.ts';
import { ensureQuota, pruneExpiredSlots, quotaFull, quotaKey, takeSlot } from './token-quota.ts';
import { getToken, hashToken, type TokenAuthRecord, type TokenItem } from './token-store.ts';

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

const DAY = 86_400;
const epoch = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/** Metadata outlives expiry and revocation by the usage-log retention, so logs keep a name to show. */
function metaTtl(expiresAt: string): number {
  return epoch(expiresAt) + config().API_USAGE_LOG_RETENTION_DAYS * DAY;
}

function authRecordPut(item: TokenItem, hash: string, plan: WorkspacePlan): TransactItem {
  const record: TokenAuthRecord & Record<string, unknown> = {
    ...keys.apiTokenHash(hash),
    entity: 'ApiTokenAuth',
    token_id: item.id,
    user_id: item.user_id,
    workspace_id: item.workspace_id,
    role: item.role,
    scopes: item.scopes,
    ...(item.operator ? { operator: true } : {}),
    is_active: item.is_active,
    expires_at: item.expires_at,
    plan: plan.plan,
    plan_changed_at: plan.asOf,
    // Gone a day after expiry; authentication checks expires_at anyway (TTL deletion lags).
    ttl: epoch(item.expires_at) + DAY,
  };
  return {
    Put: { TableName: tableName(), Item: record, ConditionExpression: 'attribute_not_exists(pk)' },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The version of the membership record a session was held to at authentication (see
 * `membershipUnchangedCheck`): `null` when there was none; `undefined` checks nothing (internal
 * callers, seeding).
 */
export type MembershipAsOf = string | null | undefined;

/** The membership check item when there is one to make. */
function membershipChecks(workspaceId: string, userId: string, asOf: MembershipAsOf): TransactItem[] {
  return asOf === undefined ? [] : [membershipUnchangedCheck(workspaceId, userId, asOf)];
}

const membershipMoved = (cause: unknown) =>
  new ConflictError(
    'Your membership or role in this workspace changed while this request ran; send it again to act under the new one.',
    { cause },
  );

/**
 * Runs a token transaction whose last item is the plan check, re-reading the plan when it changed
 * in between (rare: only while a `workspace.plan_changed` event is being applied).
 */
async function withPlan(workspaceId: string, build: (plan: WorkspacePlan) => TransactItem[]): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const plan = await getWorkspacePlan(workspaceId, true);
    const items = [...build(plan), planUnchangedCheck(workspaceId, plan)];
    try {
      await db().send(new TransactWriteCommand({ TransactItems: items }));
      return;
    } catch (err) {
      const planMoved = conditionFailedAt(err, items.length - 1);
      if (!planMoved || attempt >= 3) throw err;
    }
  }
}

/**
 * Creates a token; returns its metadata and, this once, its value. The token takes a slot of the
 * user's quota in the same transaction (409 once MAX_ACTIVE_TOKENS hold one).
 */
export async function createToken(input: {
  userId: string;
  workspaceId: string;
  role: WorkspaceRole;
  name: string;
  scopes: string[];
  /** The creating session is a PronaFlow operator's: the token acts as one. */
  operator?: boolean;
  expiresAt: string;
  /** The membership record version the session was held to; the transaction checks it is still current. */
  membershipAsOf?: MembershipAsOf;
  now?: Date;
}): Promise<{ item: TokenItem; value: string }> {
  const now = (input.now ?? new Date()).toISOString();
  const value = generateToken();
  const hash = hashToken(value);
  const id = newId('tok');
  const item: TokenItem = {
    id,
    name: input.name,
    user_id: input.userId,
    workspace_id: input.workspaceId,
    role: input.role,
    scopes: input.scopes,
    ...(input.operator ? { operator: true } : {}),
    is_active: true,
    created_at: now,
    updated_at: now,
    expires_at: input.expiresAt,
    token_hash: hash,
    version: 1,
    ttl: metaTtl(input.expiresAt),
  };
  await ensureQuota(input.workspaceId, input.userId);
  const counted = [activeToken(input.expiresAt, 1)];
  let pruned = false;
  for (let attempt = 0; ; attempt++) {
    try {
      await withPlan(input.workspaceId, (plan) => [
        {
          Put: {
            TableName: tableName(),
            Item: { ...keys.apiToken(input.workspaceId, input.userId, id), entity: 'ApiToken', ...item },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        },
        authRecordPut(item, hash, plan),
        takeSlot(input.workspaceId, input.userId, id, input.expiresAt),
        ...membershipChecks(input.workspaceId, input.userId, input.membershipAsOf),
        ...counterTransactItems(input.workspaceId, counted),
      ]);
      await addServiceCounters(counted);
      return { item, value };
    } catch (err) {
      if (input.membershipAsOf !== undefined && conditionFailedAt(err, 3)) throw membershipMoved(err);
      if (conditionFailedAt(err, 2)) {
        // The cap is reached: free the slots of expired tokens and try once more.
        if (pruned || !(await pruneExpiredSlots(input.workspaceId, input.userId))) throw quotaFull();
        pruned = true;
      } else if (isTransactionConflict(err) && attempt < 8) {
        // Another token write of the same user holds the quota item: back off and retry.
        await sleep(10 + Math.random() * 20 * 2 ** Math.min(attempt, 4));
      } else {
        throw err;
      }
    }
  }
}

function conflictOrThrow(err: unknown, message: string): never {
  const codes = cancellationCodes(err);
  if (codes?.some((c) => c === 'ConditionalCheckFailed' || c === 'TransactionConflict')) {
    throw new ConflictError(message, { cause: err });
  }
  if ((err as Error).name === 'TransactionConflictException')
    throw new ConflictError(message, { cause: err });
  throw err;
}

/**
 * Checks a token about to be used again (re-activated or rotated) against the caller: throws
 * (403) when the token holds more than the caller's current role may grant.
 */
export type TokenGuard = (current: TokenItem) => void;

/**
 * Renames or (de)activates a token; deactivation reaches authentication on the next request.
 * Activation runs `guard` first and records `role` (the caller's current role) on both items.
 */
export async function updateToken(
  workspaceId: string,
  userId: string,
  id: string,
  patch: { name?: string; is_active?: boolean },
  opts: { role?: WorkspaceRole; guard?: TokenGuard; membershipAsOf?: MembershipAsOf } = {},
): Promise<TokenItem> {
  const current = await getToken(workspaceId, userId, id);
  if (current.revoked_at) throw new ConflictError('This token is revoked and can no longer change.');
  if (patch.is_active === true) opts.guard?.(current);
  const role = patch.is_active === true ? opts.role : undefined;
  const now = new Date().toISOString();
  const sets = ['updated_at = :now', 'version = :next'];
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {
    ':now': now,
    ':next': current.version + 1,
    ':v': current.version,
  };
  if (patch.name !== undefined) {
    sets.push('#name = :name');
    names['#name'] = 'name';
    values[':name'] = patch.name;
  }
  if (patch.is_active !== undefined) {
    sets.push('is_active = :active');
    values[':active'] = patch.is_active;
  }
  if (role) {
    sets.push('#role = :role');
    names['#role'] = 'role';
    values[':role'] = role;
  }
  const items: TransactItem[] = [
    {
      Update: {
        TableName: tableName(),
        Key: keys.apiToken(workspaceId, userId, id),
        UpdateExpression: `SET ${sets.join(', ')}`,
        ConditionExpression: 'version = :v AND attribute_not_exists(revoked_at)',
        ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
        ExpressionAttributeValues: values,
      },
    },
  ];
  if (patch.is_active !== undefined) {
    items.push({
      Update: {
        TableName: tableName(),
        Key: keys.apiTokenHash(current.token_hash),
        UpdateExpression: role ? 'SET is_active = :active, #role = :role' : 'SET is_active = :active',
        ConditionExpression: 'attribute_exists(pk)',
        ...(role ? { ExpressionAttributeNames: { '#role': 'role' } } : {}),
        ExpressionAttributeValues: { ':active': patch.is_active, ...(role ? { ':role': role } : {}) },
      },
    });
  }
  // Switched on or off: the token enters or leaves the active count (the version condition makes it once).
  const counted: CounterChange[] =
    patch.is_active !== undefined && patch.is_active !== current.is_active
      ? [activeToken(current.expires_at, patch.is_active ? 1 : -1)]
      : [];
  items.push(...counterTransactItems(workspaceId, counted));
  // Switching a token back on hands out a credential again: under the membership it was checked against.
  const checked = patch.is_active === true ? membershipChecks(workspaceId, userId, opts.membershipAsOf) : [];
  items.push(...checked);
  try {
    await db().send(new TransactWriteCommand({ TransactItems: items }));
  } catch (err) {
    if (checked.length && conditionFailedAt(err, items.length - 1)) throw membershipMoved(err);
    conflictOrThrow(err, 'The token changed while you updated it; read it again and retry.');
  }
  await addServiceCounters(counted);
  return {
    ...current,
    ...(patch.name !== undefined ? { name: patch.name } : {}),
    ...(patch.is_active !== undefined ? { is_active: patch.is_active } : {}),
    ...(role ? { role } : {}),
    updated_at: now,
    version: current.version + 1,
  };
}

/**
 * Revokes a token: its authentication record is deleted and its quota slot freed in the same
 * transaction, so the very next request with it is refused. Revoking a revoked token changes
 * nothing.
 */
export async function revokeToken(workspaceId: string, userId: string, id: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const current = await getToken(workspaceId, userId, id);
    if (current.revoked_at) return;
    if (attempt === 0) await ensureQuota(workspaceId, userId);
    const now = new Date();
    const counted = current.is_active ? [activeToken(current.expires_at, -1)] : [];
    try {
      await db().send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: tableName(),
                Key: keys.apiToken(workspaceId, userId, id),
                UpdateExpression:
                  'SET revoked_at = :now, updated_at = :now, is_active = :f, version = :next, #ttl = :ttl',
                ConditionExpression: 'version = :v',
                ExpressionAttributeNames: { '#ttl': 'ttl' },
                ExpressionAttributeValues: {
                  ':now': now.toISOString(),
                  ':f': false,
                  ':v': current.version,
                  ':next': current.version + 1,
                  ':ttl': Math.floor(now.getTime() / 1000) + config().API_USAGE_LOG_RETENTION_DAYS * DAY,
                },
              },
            },
            { Delete: { TableName: tableName(), Key: keys.apiTokenHash(current.token_hash) } },
            {
              Update: {
                TableName: tableName(),
                Key: quotaKey(workspaceId, userId),
                UpdateExpression: 'REMOVE slots.#id',
                ExpressionAttributeNames: { '#id': id },
              },
            },
            ...counterTransactItems(workspaceId, counted),
          ],
        }),
      );
      await addServiceCounters(counted);
      return;
    } catch (err) {
      // A concurrent rotate or update moved the version, or another token write of the user held
      // the quota item: read again and revoke what is current.
      if (attempt >= 5 || !cancellationCodes(err)) throw err;
      await sleep(5 + Math.random() * 10 * 2 ** attempt);
    }
  }
}

/**
 * Gives a token a new value (same id, scopes and name) and revokes the old value in one
 * transaction, after `guard` has checked it against the caller; the new authentication record
 * carries `role`, the caller's current role. Guarded by the version read: of two concurrent
 * rotations one wins, the other 409.
 */
export async function rotateToken(
  workspaceId: string,
  userId: string,
  id: string,
  expiresAt: string,
  opts: { role: WorkspaceRole; guard?: TokenGuard; membershipAsOf?: MembershipAsOf },
): Promise<{ item: TokenItem; value: string }> {
  const current = await getToken(workspaceId, userId, id);
  if (current.revoked_at) throw new ConflictError('This token is revoked; create a new one instead.');
  opts.guard?.(current);
  const value = generateToken();
  const hash = hashToken(value);
  const now = new Date().toISOString();
  const item: TokenItem = {
    ...current,
    role: opts.role,
    token_hash: hash,
    expires_at: expiresAt,
    rotated_at: now,
    updated_at: now,
    version: current.version + 1,
    ttl: metaTtl(expiresAt),
  };
  await ensureQuota(workspaceId, userId);
  // A token switched on moves to its new expiry day (a switched-off one is not counted).
  const counted = current.is_active ? [activeToken(current.expires_at, -1), activeToken(expiresAt, 1)] : [];
  try {
    await withPlan(workspaceId, (plan) => [
      {
        Update: {
          TableName: tableName(),
          Key: keys.apiToken(workspaceId, userId, id),
          UpdateExpression:
            'SET token_hash = :h, expires_at = :exp, rotated_at = :now, updated_at = :now, version = :next, #ttl = :ttl, #role = :role',
          ConditionExpression: 'version = :v AND attribute_not_exists(revoked_at)',
          ExpressionAttributeNames: { '#ttl': 'ttl', '#role': 'role' },
          ExpressionAttributeValues: {
            ':h': hash,
            ':exp': expiresAt,
            ':now': now,
            ':next': item.version,
            ':v': current.version,
            ':ttl': item.ttl,
            ':role': opts.role,
          },
        },
      },
      { Delete: { TableName: tableName(), Key: keys.apiTokenHash(current.token_hash) } },
      authRecordPut(item, hash, plan),
      // An expired token whose slot was pruned needs a free one again.
      takeSlot(workspaceId, userId, id, expiresAt),
      ...membershipChecks(workspaceId, userId, opts.membershipAsOf),
      ...counterTransactItems(workspaceId, counted),
    ]);
  } catch (err) {
    if (opts.membershipAsOf !== undefined && conditionFailedAt(err, 4)) throw membershipMoved(err);
    if (conditionFailedAt(err, 3)) throw quotaFull();
    conflictOrThrow(err, 'The token was rotated or changed by another request at the same time.');
  }
  await addServiceCounters(counted);
  return { item, value };
}
