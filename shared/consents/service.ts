/**
 * Consent records (GDPR Art. 7): granted by the data subject, demonstrable (who, when, how, under
 * which policy version, with a receipt), withdrawn as easily as granted (one call, effective at
 * once, the record kept as REVOKED with a receipt of its own), never bundled (one record per
 * type and resource). Every grant, revoke and expiry is written with its audit entry in one
 * transaction (shared/audit).
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { type AuditInput, writeAudited } from '#shared/audit/log.ts';
import { config } from '#shared/config.ts';
import { addServiceCounters, counterTransactItems } from '#shared/counters.ts';
import { db, tableName } from '#shared/db/client.ts';
import { conditionFailedAt } from '#shared/db/conditions.ts';
import { queryPage } from '#shared/db/pagination.ts';
import { queryAll } from '#shared/db/query.ts';
import type { TransactItem } from '#shared/db/transact.ts';
import { ForbiddenError, NotFoundError, ValidationError } from '#shared/errors.ts';
import { publishEvent } from '#shared/events/publish.ts';
import type { Caller } from '#shared/http/caller.ts';
import type { Page } from '#shared/http/common-params.ts';
import { newId } from '#shared/ids.ts';
import { logger } from '#shared/logger.ts';
import { consentCount } from './counters.ts';
import { consentKeys } from './keys.ts';
import { receiptFor } from './receipts.ts';
import type {
  ConsentReceipt,
  ConsentStatus,
  ConsentType,
  ConsentView,
  GrantConsentInput,
} from './schemas.ts';

/** The stored consent record. */
export interface ConsentItem {
  pk: string;
  sk: string;
  gsi1pk?: string;
  gsi1sk?: string;
  entity: 'Consent';
  id: string;
  workspace_id: string;
  user_id: string;
  consent_type: ConsentType;
  resource_type: string;
  resource_id: string;
  description?: string;
  purpose?: string;
  /** GRANTED until revoked or marked expired (EXPIRED and OUTDATED are also computed on read). */
  state: 'GRANTED' | 'REVOKED' | 'EXPIRED';
  policy_version: number;
  granted_at: string;
  expires_at?: string;
  revoked_at?: string;
  expired_at?: string;
  collection_method: 'api' | 'ui';
  source_ip: string | null;
  user_agent: string | null;
  credential: { kind: 'session' | 'token'; token_id: string | null };
  receipt: ConsentReceipt;
  revocation_receipt?: ConsentReceipt;
}

/** What the request tells about how consent was collected. */
export interface Collection {
  method: 'api' | 'ui';
  ip: string | null;
  userAgent: string | null;
}

/** The status a record has now: revoked, expired (its end date passed), outdated (the policy moved on), or granted. */
export function statusOf(c: ConsentItem, now = new Date()): ConsentStatus {
  if (c.state === 'REVOKED') return 'REVOKED';
  if (c.state === 'EXPIRED' || (c.expires_at && c.expires_at <= now.toISOString())) return 'EXPIRED';
  if (c.policy_version < config().CONSENT_POLICY_VERSION) return 'OUTDATED';
  return 'GRANTED';
}

export function toView(c: ConsentItem, now = new Date()): ConsentView {
  return {
    id: c.id,
    user_id: c.user_id,
    workspace_id: c.workspace_id,
    consent_type: c.consent_type,
    resource_type: c.resource_type,
    resource_id: c.resource_id,
    description: c.description ?? null,
    purpose: c.purpose ?? null,
    status: statusOf(c, now),
    policy_version: c.policy_version,
    current_policy_version: config().CONSENT_POLICY_VERSION,
    granted_at: c.granted_at,
    expires_at: c.expires_at ?? null,
    revoked_at: c.revoked_at ?? null,
    expired_at: c.expired_at ?? null,
    collection_method: c.collection_method,
    source_ip: c.source_ip,
    user_agent: c.user_agent,
    credential: c.credential,
    receipt: c.receipt,
    revocation_receipt: c.revocation_receipt ?? null,
  };
}

/** What the audit log keeps of a record: no personal data beyond the pseudonymous trail it joins. */
const snapshot = (c: ConsentItem) => ({
  id: c.id,
  consent_type: c.consent_type,
  resource_type: c.resource_type,
  resource_id: c.resource_id,
  state: c.state,
  policy_version: c.policy_version,
  expires_at: c.expires_at ?? null,
  purpose: c.purpose ?? null,
});

const auditOf = (
  c: ConsentItem,
  action: string,
  caller: Caller | { system: string },
  before: ConsentItem | null,
  after: ConsentItem | null,
  collection?: Collection,
  at?: string,
): AuditInput => ({
  workspaceId: c.workspace_id,
  subjectUserId: c.user_id,
  action,
  actor: 'system' in caller ? { system: caller.system } : { userId: caller.userId, tokenId: caller.tokenId },
  target: { type: 'consent', id: c.id },
  before: before ? snapshot(before) : null,
  after: after ? snapshot(after) : null,
  policyVersion: config().CONSENT_POLICY_VERSION,
  method: collection?.method ?? 'system',
  source: collection ? { ip: collection.ip, userAgent: collection.userAgent } : undefined,
  at,
});

async function findRecord(workspaceId: string, userId: string, id: string): Promise<ConsentItem | undefined> {
  const out = await db().send(
    new GetCommand({
      TableName: tableName(),
      Key: consentKeys.record(workspaceId, userId, id),
      ConsistentRead: true,
    }),
  );
  return out.Item as ConsentItem | undefined;
}

/** The caller's consent; 404 for anyone else's (another user's, another workspace's). */
export async function getConsent(caller: Caller, id: string): Promise<ConsentView> {
  const c = await findRecord(caller.workspaceId, caller.userId, id);
  if (!c) throw new NotFoundError(`No consent '${id}' of yours in this workspace.`);
  return toView(c);
}

async function liveOf(
  workspaceId: string,
  userId: string,
  input: Pick<ConsentItem, 'consent_type' | 'resource_type' | 'resource_id'>,
) {
  const out = await db().send(
    new GetCommand({
      TableName: tableName(),
      Key: consentKeys.live(workspaceId, userId, input.consent_type, input.resource_type, input.resource_id),
      ConsistentRead: true,
    }),
  );
  const pointer = out.Item as { consent_id: string } | undefined;
  return pointer ? findRecord(workspaceId, userId, pointer.consent_id) : undefined;
}

/**
 * The check other features make before moving a user's data (a sync binding through an OAuth
 * connection): true while the user's consent of this type for this resource is GRANTED (not
 * revoked, not expired, not predating the current policy version). Two consistent reads.
 */
export async function hasLiveConsent(
  workspaceId: string,
  userId: string,
  consent: Pick<ConsentItem, 'consent_type' | 'resource_type' | 'resource_id'>,
  now = new Date(),
): Promise<boolean> {
  const live = await liveOf(workspaceId, userId, consent);
  return live !== undefined && statusOf(live, now) === 'GRANTED';
}

/**
 * `POST /consents`: records the caller's consent, or returns the live one for the same type and
 * resource (`created: false`). A live consent that expired or predates the current policy
 * version is replaced by a new record (the old one stays, EXPIRED or OUTDATED).
 */
export async function grantConsent(
  caller: Caller,
  input: GrantConsentInput,
  collection: Collection,
  now = new Date(),
): Promise<{ consent: ConsentView; created: boolean }> {
  if (input.expires_at && Date.parse(input.expires_at) <= now.getTime()) {
    throw new ValidationError('The consent would already have expired.', [
      { path: 'body.expires_at', message: 'Must be in the future' },
    ]);
  }
  for (let attempt = 0; ; attempt++) {
    const live = await liveOf(caller.workspaceId, caller.userId, input);
    if (live && statusOf(live, now) === 'GRANTED') return { consent: toView(live, now), created: false };
    const at = now.toISOString();
    const id = newId('cns', now.getTime());
    const expiresAt = input.expires_at ? new Date(input.expires_at).toISOString() : undefined;
    const base: Omit<ConsentItem, 'receipt'> = {
      ...consentKeys.record(caller.workspaceId, caller.userId, id),
      ...(expiresAt ? consentKeys.expiry(expiresAt, id) : {}),
      entity: 'Consent',
      id,
      workspace_id: caller.workspaceId,
      user_id: caller.userId,
      consent_type: input.consent_type,
      resource_type: input.resource_type,
      resource_id: input.resource_id,
      ...(input.description ? { description: input.description } : {}),
      ...(input.purpose ? { purpose: input.purpose } : {}),
      state: 'GRANTED',
      policy_version: config().CONSENT_POLICY_VERSION,
      granted_at: at,
      ...(expiresAt ? { expires_at: expiresAt } : {}),
      collection_method: collection.method,
      source_ip: collection.ip,
      user_agent: collection.userAgent,
      credential: { kind: caller.kind, token_id: caller.tokenId ?? null },
    };
    let item: ConsentItem | undefined;
    const liveKey = consentKeys.live(
      caller.workspaceId,
      caller.userId,
      input.consent_type,
      input.resource_type,
      input.resource_id,
    );
    const draft = { ...base, receipt: undefined } as unknown as ConsentItem;
    try {
      await writeAudited(
        [auditOf(draft, 'consent.granted', caller, null, draft, collection, at)],
        ([entry]) => {
          item = { ...base, receipt: receiptFor(base, 'GRANTED', entry!, now) };
          return [
            {
              Put: {
                TableName: tableName(),
                Item: { ...liveKey, entity: 'ConsentLive', consent_id: id },
                ...(live
                  ? {
                      ConditionExpression: 'consent_id = :old',
                      ExpressionAttributeValues: { ':old': live.id },
                    }
                  : { ConditionExpression: 'attribute_not_exists(pk)' }),
              },
            },
            { Put: { TableName: tableName(), Item: item, ConditionExpression: 'attribute_not_exists(pk)' } },
            ...counterTransactItems(caller.workspaceId, [consentCount('GRANTED', 1)]),
          ];
        },
      );
      await addServiceCounters([consentCount('GRANTED', 1)]);
      return { consent: toView(item as ConsentItem, now), created: true };
    } catch (err) {
      // Another grant of the same consent won the race: answer with the one it recorded.
      if (conditionFailedAt(err, 0) && attempt < 2) continue;
      throw err;
    }
  }
}

/**
 * `DELETE /consents/{id}`: withdraws the caller's consent at once. The record stays, REVOKED,
 * with a revocation receipt. Withdrawing a consent that is no longer live (revoked, expired,
 * outdated) changes nothing and answers the record as it is (idempotent).
 */
export async function revokeConsent(
  caller: Caller,
  id: string,
  collection: Collection,
  now = new Date(),
): Promise<{ consent: ConsentView; revoked: boolean }> {
  const current = await findRecord(caller.workspaceId, caller.userId, id);
  if (!current) throw new NotFoundError(`No consent '${id}' of yours in this workspace.`);
  if (current.state !== 'GRANTED') return { consent: toView(current, now), revoked: false };
  const at = now.toISOString();
  const revokedBase = { ...current, state: 'REVOKED' as const, revoked_at: at };
  let next: ConsentItem | undefined;
  try {
    await writeAudited(
      [auditOf(current, 'consent.revoked', caller, current, revokedBase, collection, at)],
      ([e]) => {
        next = { ...revokedBase, revocation_receipt: receiptFor(current, 'REVOKED', e!, now) };
        delete next.gsi1pk;
        delete next.gsi1sk;
        return endLiveConsent(current, next);
      },
    );
  } catch (err) {
    // Revoked (or expired) by another request meanwhile: the same answer as a second revoke.
    if (conditionFailedAt(err, 0)) return revokeConsent(caller, id, collection, now);
    throw err;
  }
  await addServiceCounters(ended('REVOKED'));
  await raiseConsentEnded('consent.revoked', next as ConsentItem);
  return { consent: toView(next as ConsentItem, now), revoked: true };
}

/**
 * Tells the rest of the service that a consent ended (`consent.revoked`, `consent.expired`), after
 * the write committed, through the ingest queue: features that rely on it (sync bindings pause)
 * react, and webhook subscribers hear of it. At most once (a crash in between loses the event;
 * the features check consent again before they move data, so nothing moves without it).
 */
async function raiseConsentEnded(type: 'consent.revoked' | 'consent.expired', c: ConsentItem): Promise<void> {
  await publishEvent({
    type,
    workspace_id: c.workspace_id,
    data: {
      consent_id: c.id,
      user_id: c.user_id,
      consent_type: c.consent_type,
      resource_type: c.resource_type,
      resource_id: c.resource_id,
    },
  }).catch((err) =>
    logger.warn('consent event not raised', { consent_id: c.id, error: (err as Error).message }),
  );
}

/**
 * The writes that end a live consent: the record in its final state, conditional on it still
 * being GRANTED (item 0), and its live pointer gone if it still points at it.
 */
function endLiveConsent(current: ConsentItem, next: ConsentItem): TransactItem[] {
  return [
    ...endingWrites(current, next),
    // The status view's count moves with the state (the record's condition makes it once).
    ...counterTransactItems(current.workspace_id, ended(next.state as 'REVOKED' | 'EXPIRED')),
  ];
}

/** A live consent's count moves from GRANTED to how it ended. */
const ended = (state: 'REVOKED' | 'EXPIRED') => [consentCount('GRANTED', -1), consentCount(state, 1)];

function endingWrites(current: ConsentItem, next: ConsentItem): TransactItem[] {
  return [
    {
      Put: {
        TableName: tableName(),
        Item: next,
        ConditionExpression: 'attribute_exists(pk) AND #st = :granted',
        ExpressionAttributeNames: { '#st': 'state' },
        ExpressionAttributeValues: { ':granted': 'GRANTED' },
      },
    },
    {
      Delete: {
        TableName: tableName(),
        Key: consentKeys.live(
          current.workspace_id,
          current.user_id,
          current.consent_type,
          current.resource_type,
          current.resource_id,
        ),
        ConditionExpression: 'attribute_not_exists(pk) OR consent_id = :id',
        ExpressionAttributeValues: { ':id': current.id },
      },
    },
  ];
}

/**
 * Marks a consent whose end date passed as EXPIRED, with its audit entry (the expiry worker).
 * False when it is no longer live (revoked, already marked) or not due.
 */
export async function expireConsent(item: ConsentItem, now = new Date()): Promise<boolean> {
  if (item.state !== 'GRANTED' || !item.expires_at || item.expires_at > now.toISOString()) return false;
  const expiredBase = { ...item, state: 'EXPIRED' as const, expired_at: now.toISOString() };
  delete (expiredBase as Partial<ConsentItem>).gsi1pk;
  delete (expiredBase as Partial<ConsentItem>).gsi1sk;
  try {
    await writeAudited(
      [
        auditOf(
          item,
          'consent.expired',
          { system: 'consent-expiry' },
          item,
          expiredBase,
          undefined,
          expiredBase.expired_at,
        ),
      ],
      () => endLiveConsent(item, expiredBase),
    );
    await addServiceCounters(ended('EXPIRED'));
    await raiseConsentEnded('consent.expired', expiredBase);
    return true;
  } catch (err) {
    if (conditionFailedAt(err, 0)) return false;
    throw err;
  }
}

/** Which records a list shows. */
export interface ConsentFilter {
  consent_type?: ConsentType;
  resource_type?: string;
  resource_id?: string;
  status?: ConsentStatus;
  scope: 'self' | 'workspace';
  limit: number;
  cursor?: string;
}

/** Throws unless a `scope=workspace` request comes from a workspace admin. */
export function assertScope(caller: Caller, scope: 'self' | 'workspace'): void {
  if (scope === 'workspace' && caller.role !== 'admin') {
    throw new ForbiddenError("The workspace's view is for workspace admins.", {
      extra: { required_role: 'admin' },
    });
  }
}

/** `GET /consents`: the caller's records (or, for admins, the workspace's), newest first. */
export async function listConsents(
  caller: Caller,
  q: ConsentFilter,
  now = new Date(),
): Promise<Page<ConsentView>> {
  assertScope(caller, q.scope);
  const pk = consentKeys.workspacePartition(caller.workspaceId);
  const prefix = q.scope === 'workspace' ? consentKeys.ofWorkspace : consentKeys.ofUser(caller.userId);
  const filters: string[] = [];
  const values: Record<string, unknown> = { ':pk': pk, ':prefix': prefix };
  const names: Record<string, string> = {};
  for (const f of ['consent_type', 'resource_type', 'resource_id'] as const) {
    if (q[f] !== undefined) {
      filters.push(`${f} = :${f}`);
      values[`:${f}`] = q[f];
    }
  }
  const page = await queryPage(
    {
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ...(filters.length ? { FilterExpression: filters.join(' AND ') } : {}),
      ExpressionAttributeValues: values,
      ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
      ScanIndexForward: false,
    },
    {
      scope: { list: `consents:${q.scope}`, key: { pk, sk: { prefix } } },
      limit: q.limit,
      cursor: q.cursor,
    },
  );
  // Status is partly computed (expiry, policy version), so it filters after reading.
  const views = (page.items as unknown as ConsentItem[]).map((c) => toView(c, now));
  return {
    data: q.status ? views.filter((v) => v.status === q.status) : views,
    next_cursor: page.next_cursor,
  };
}

/** Every record of the caller (or of the workspace), for status and export. */
export async function allConsents(workspaceId: string, userId: string | null): Promise<ConsentItem[]> {
  const out: ConsentItem[] = [];
  for await (const item of queryAll({
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
    ExpressionAttributeValues: {
      ':pk': consentKeys.workspacePartition(workspaceId),
      ':prefix': userId === null ? consentKeys.ofWorkspace : consentKeys.ofUser(userId),
    },
    ConsistentRead: true,
  })) {
    out.push(item as unknown as ConsentItem);
  }
  return out;
}
