import {
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { config } from '#shared/config.ts';
import { sha256Hex } from '#shared/crypto.ts';
import { db, tableName } from '#shared/db/client.ts';
import {
  cancellationCodes,
  conditionFailedAt,
  isConditionFailed,
  isTransactionConflict,
} from '#shared/db/conditions.ts';
import { keys } from '#shared/db/keys.ts';
import { listCursor, type Page } from '#shared/db/pagination.ts';
import { ConflictError, NotFoundError } from '#shared/errors.ts';
import type { WorkspaceRole } from '#shared/http/caller.ts';
import { newId } from '#shared/ids.ts';
import { generateToken } from './format.ts';
import { membershipUnchangedCheck } from './member-record.ts';
import { getWorkspacePlan, type Plan, planUnchangedCheck, type WorkspacePlan } from './plans.ts';
import type { TokenView } from './schemas.ts';

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** The metadata item of a token (`WS#<ws>` / `APITOKEN#<user>#<id>`). */
export interface TokenItem {
  id: string;
  name: string;
  user_id: string;
  workspace_id: string;
  /** Role of the user when the token was made (routes that need the admin role check it). */
  role: WorkspaceRole;
  scopes: string[];
  is_active: boolean;
  created_at: string;
  updated_at: string;
  expires_at: string;
  last_used_at?: string;
  last_used_ip?: string;
  rotated_at?: string;
  revoked_at?: string;
  token_hash: string;
  version: number;
  ttl: number;
}

/** The authentication record (`TOKENHASH#<sha256>`): all the hot path needs, in one item. */
export interface TokenAuthRecord {
  token_id: string;
  user_id: string;
  workspace_id: string;
  role: WorkspaceRole;
  scopes: string[];
  is_active: boolean;
  expires_at: string;
  plan: Plan;
  plan_changed_at?: string;
  ttl: number;
}

const DAY = 86_400;
const epoch = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/** At most this many tokens per user and workspace hold a slot: those neither revoked nor expired. */
export const MAX_ACTIVE_TOKENS = 50;

/**
 * The token quota of a user in a workspace (`WS#<ws>` / `TOKENQUOTA#<user>`): a map `slots` of
 * token id → expiry (epoch seconds). Creating a token adds its slot under `size(slots) < max` in
 * the create transaction; revoking removes it; expired slots are pruned when the cap is reached.
 * (The sort key does not start with `APITOKEN#`, so token queries never see it.)
 */
export const quotaKey = (workspaceId: string, userId: string) => ({
  pk: keys.workspace(workspaceId),
  sk: `TOKENQUOTA#${encodeURIComponent(userId)}`,
});
/** Token hash under API_TOKEN_HASH_ALGORITHM (only sha256 today). */
export const hashToken = (value: string): string => sha256Hex(value);

/** Metadata outlives expiry and revocation by the usage-log retention, so logs keep a name to show. */
function metaTtl(expiresAt: string): number {
  return epoch(expiresAt) + config().API_USAGE_LOG_RETENTION_DAYS * DAY;
}

export function tokenStatus(item: TokenItem, now = new Date()): TokenView['status'] {
  if (item.revoked_at) return 'revoked';
  if (item.expires_at <= now.toISOString()) return 'expired';
  return item.is_active ? 'active' : 'inactive';
}

export function toView(item: TokenItem, now = new Date()): TokenView {
  return {
    id: item.id,
    name: item.name,
    user_id: item.user_id,
    workspace_id: item.workspace_id,
    scopes: item.scopes,
    status: tokenStatus(item, now),
    is_active: item.is_active,
    created_at: item.created_at,
    updated_at: item.updated_at,
    expires_at: item.expires_at,
    last_used_at: item.last_used_at ?? null,
    last_used_ip: item.last_used_ip ?? null,
    rotated_at: item.rotated_at ?? null,
    revoked_at: item.revoked_at ?? null,
  };
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

/** Creates the quota item with an empty slot map unless it exists (slot updates need the map). */
async function ensureQuota(workspaceId: string, userId: string): Promise<void> {
  await db().send(
    new UpdateCommand({
      TableName: tableName(),
      Key: quotaKey(workspaceId, userId),
      UpdateExpression:
        'SET entity = if_not_exists(entity, :e), workspace_id = :ws, user_id = :u, slots = if_not_exists(slots, :empty)',
      ExpressionAttributeValues: { ':e': 'ApiTokenQuota', ':ws': workspaceId, ':u': userId, ':empty': {} },
    }),
  );
}

/**
 * Takes (or keeps) the slot of token `id` with its expiry, under the cap: a token that already
 * holds a slot keeps it; a new one needs `size(slots) < MAX_ACTIVE_TOKENS`.
 */
function takeSlot(workspaceId: string, userId: string, id: string, expiresAt: string): TransactItem {
  return {
    Update: {
      TableName: tableName(),
      Key: quotaKey(workspaceId, userId),
      UpdateExpression: 'SET slots.#id = :exp',
      ConditionExpression: 'attribute_exists(slots.#id) OR size(slots) < :max',
      ExpressionAttributeNames: { '#id': id },
      ExpressionAttributeValues: { ':exp': epoch(expiresAt), ':max': MAX_ACTIVE_TOKENS },
    },
  };
}

/**
 * Frees the slots of expired tokens; true when at least one was freed. Called when the cap is
 * reached, so expired tokens never hold slots for long.
 */
async function pruneExpiredSlots(workspaceId: string, userId: string, now = new Date()): Promise<boolean> {
  const { Item } = await db().send(
    new GetCommand({ TableName: tableName(), Key: quotaKey(workspaceId, userId), ConsistentRead: true }),
  );
  const slots = (Item?.slots ?? {}) as Record<string, number>;
  const nowSec = Math.floor(now.getTime() / 1000);
  const expired = Object.keys(slots).filter((id) => Number(slots[id]) <= nowSec);
  if (!expired.length) return false;
  await db().send(
    new UpdateCommand({
      TableName: tableName(),
      Key: quotaKey(workspaceId, userId),
      UpdateExpression: `REMOVE ${expired.map((_, i) => `slots.#s${i}`).join(', ')}`,
      ExpressionAttributeNames: Object.fromEntries(expired.map((id, i) => [`#s${i}`, id])),
    }),
  );
  return true;
}

const quotaFull = () =>
  new ConflictError(
    `You have ${MAX_ACTIVE_TOKENS} tokens in this workspace, the most one user may hold; revoke one you no longer need first.`,
    { extra: { max_active_tokens: MAX_ACTIVE_TOKENS } },
  );

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
    is_active: true,
    created_at: now,
    updated_at: now,
    expires_at: input.expiresAt,
    token_hash: hash,
    version: 1,
    ttl: metaTtl(input.expiresAt),
  };
  await ensureQuota(input.workspaceId, input.userId);
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
      ]);
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

const notFound = (id: string) => new NotFoundError(`No token '${id}' of yours in this workspace.`);

/** A token of this user in this workspace (404 for anyone else's, expired-by-TTL included). */
export async function getToken(workspaceId: string, userId: string, id: string): Promise<TokenItem> {
  const { Item } = await db().send(
    new GetCommand({
      TableName: tableName(),
      Key: keys.apiToken(workspaceId, userId, id),
      ConsistentRead: true,
    }),
  );
  if (!Item || Item.user_id !== userId || (Item.ttl && Item.ttl <= Date.now() / 1000)) throw notFound(id);
  return Item as TokenItem;
}

const STATUS_FILTERS: Record<TokenView['status'], string> = {
  active: 'attribute_not_exists(revoked_at) AND is_active = :t AND expires_at > :now',
  inactive: 'attribute_not_exists(revoked_at) AND is_active = :f AND expires_at > :now',
  expired: 'attribute_not_exists(revoked_at) AND expires_at <= :now',
  revoked: 'attribute_exists(revoked_at)',
};

/** The user's tokens in the workspace, newest first, optionally by status. */
export async function listTokens(
  workspaceId: string,
  userId: string,
  opts: { limit: number; cursor?: string; status?: TokenView['status']; now?: Date },
): Promise<Page<TokenView>> {
  const now = opts.now ?? new Date();
  const pk = keys.workspace(workspaceId);
  const cursor = listCursor({ list: 'tokens', key: { pk, sk: { prefix: keys.apiTokensOfUser(userId) } } });
  let start = cursor.decode(opts.cursor);
  const values: Record<string, unknown> = {
    ':pk': pk,
    ':sk': keys.apiTokensOfUser(userId),
    ':nowe': Math.floor(now.getTime() / 1000),
  };
  let filter = '#ttl > :nowe';
  if (opts.status) {
    filter += ` AND ${STATUS_FILTERS[opts.status]}`;
    if (opts.status !== 'revoked') values[':now'] = now.toISOString();
    if (opts.status === 'active') values[':t'] = true;
    if (opts.status === 'inactive') values[':f'] = false;
  }
  const data: TokenView[] = [];
  // Filters can thin a page: read on (bounded) until the page is full, never past it.
  for (let round = 0; round < 10 && data.length < opts.limit; round++) {
    const page = await db().send(
      new QueryCommand({
        TableName: tableName(),
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :sk)',
        FilterExpression: filter,
        ExpressionAttributeNames: { '#ttl': 'ttl' },
        ExpressionAttributeValues: values,
        ScanIndexForward: false,
        Limit: opts.limit - data.length,
        ExclusiveStartKey: start,
      }),
    );
    for (const item of page.Items ?? []) data.push(toView(item as TokenItem, now));
    start = page.LastEvaluatedKey as typeof start;
    if (!start) break;
  }
  return { data, next_cursor: cursor.encode(start) };
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
  // Switching a token back on hands out a credential again: under the membership it was checked against.
  const checked = patch.is_active === true ? membershipChecks(workspaceId, userId, opts.membershipAsOf) : [];
  items.push(...checked);
  try {
    await db().send(new TransactWriteCommand({ TransactItems: items }));
  } catch (err) {
    if (checked.length && conditionFailedAt(err, items.length - 1)) throw membershipMoved(err);
    conflictOrThrow(err, 'The token changed while you updated it; read it again and retry.');
  }
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
          ],
        }),
      );
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
    ]);
  } catch (err) {
    if (opts.membershipAsOf !== undefined && conditionFailedAt(err, 4)) throw membershipMoved(err);
    if (conditionFailedAt(err, 3)) throw quotaFull();
    conflictOrThrow(err, 'The token was rotated or changed by another request at the same time.');
  }
  return { item, value };
}

/** The authentication record for a token hash: one strongly consistent GetItem. */
export async function findAuthRecord(hash: string): Promise<TokenAuthRecord | undefined> {
  const { Item } = await db().send(
    new GetCommand({ TableName: tableName(), Key: keys.apiTokenHash(hash), ConsistentRead: true }),
  );
  return Item as TokenAuthRecord | undefined;
}

/** Records the latest use of a token; an older use never overwrites a newer one. */
export async function touchLastUsed(input: {
  workspaceId: string;
  userId: string;
  tokenId: string;
  at: string;
  ip?: string;
}): Promise<void> {
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.apiToken(input.workspaceId, input.userId, input.tokenId),
        UpdateExpression: 'SET last_used_at = :at, last_used_ip = :ip',
        ConditionExpression:
          'attribute_exists(pk) AND (attribute_not_exists(last_used_at) OR last_used_at < :at)',
        ExpressionAttributeValues: { ':at': input.at, ':ip': input.ip ?? null },
      }),
    );
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
  }
}
