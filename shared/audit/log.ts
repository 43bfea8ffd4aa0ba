/**
 * The audit log: an append-only, hash-chained trail per subject (a user, by pseudonym) and
 * workspace, that any feature writes in the same transaction as the change it records. Platform
 * code: it knows no feature.
 *
 * - **Append-only**: an entry is put once under a key no other entry has (`attribute_not_exists`);
 *   no function may update or delete an `AUDIT#` item (IAM denies it in AWS, the runtime grants
 *   locally); nothing in the API edits one. Entries expire with the table's TTL after
 *   CONSENT_AUDIT_LOG_RETENTION_DAYS.
 * - **Tamper-evident**: each entry holds the SHA-256 of its predecessor (`prev_hash`, 64 zeros
 *   for the first) and of its own canonical content (`hash`); {@link verifyTrail} recomputes the
 *   chain.
 * - **Survives erasure**: entries name people only by pseudonym (a keyed hash of the user id);
 *   the personal data of an entry (user id, IP address, user agent) is a separate item that
 *   {@link erasePersonalData} deletes, so the chain still verifies after a subject is deleted.
 */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { config } from '#shared/config.ts';
import { pseudonymize, sha256Hex } from '#shared/crypto.ts';
import { batchDelete, batchGet, type ItemKey } from '#shared/db/batch.ts';
import { db, tableName } from '#shared/db/client.ts';
import { cancellationCodes } from '#shared/db/conditions.ts';
import { ttlIn } from '#shared/db/keys.ts';
import { queryPage } from '#shared/db/pagination.ts';
import { queryAll } from '#shared/db/query.ts';
import { type TransactItem, transactWrite } from '#shared/db/transact.ts';
import { canonicalJson } from './canonical.ts';
import { auditKeys } from './keys.ts';

export const GENESIS_HASH = '0'.repeat(64);
const DAY_SECONDS = 86_400;

/** What a change tells the audit log. Identifiers of people are raw here; the log pseudonymizes them. */
export interface AuditInput {
  workspaceId: string;
  /** The user whose trail the entry joins (usually the one acting, or the one the change is about). */
  subjectUserId: string;
  /** What happened: `consent.granted`, `plugin.installed`, … */
  action: string;
  actor: { userId?: string; tokenId?: string; system?: string };
  target: { type: string; id: string };
  /** Snapshots of the target, without raw personal identifiers (they are hashed as given). */
  before?: Record<string, unknown> | null;
  after?: Record<string, unknown> | null;
  policyVersion?: number;
  /** How the change was made: `api`, `ui`, `system`. */
  method?: string;
  /** Personal data of the request, kept aside from the entry and erased with the subject. */
  source?: { ip?: string | null; userAgent?: string | null };
  at?: string;
}

/** An entry as stored and as the chain hashes it (but `hash`). */
export interface AuditEntry {
  workspace_id: string;
  subject: string;
  seq: number;
  at: string;
  action: string;
  actor: { type: 'user' | 'token' | 'system'; id: string; user?: string };
  target: { type: string; id: string };
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  policy_version: number | null;
  method: string;
  prev_hash: string;
  hash: string;
}

type StoredEntry = AuditEntry & { pk: string; sk: string; entity: 'AuditEntry'; ttl: number };

/** The hash of an entry: SHA-256 (hex) of the canonical JSON of everything but `hash` itself. */
export function entryHash(e: Omit<AuditEntry, 'hash'> & { hash?: string }): string {
  const { hash: _h, ...content } = e as AuditEntry;
  return sha256Hex(canonicalJson(pick(content)));
}

/** The semantic fields of an entry (keys, TTL and index attributes are not part of its content). */
function pick(e: AuditEntry | Omit<AuditEntry, 'hash'>): Omit<AuditEntry, 'hash'> {
  return {
    workspace_id: e.workspace_id,
    subject: e.subject,
    seq: e.seq,
    at: e.at,
    action: e.action,
    actor: e.actor,
    target: e.target,
    before: e.before,
    after: e.after,
    policy_version: e.policy_version,
    method: e.method,
    prev_hash: e.prev_hash,
  };
}

/** The pseudonym of a user as the audit log names them. */
export const subjectOf = (userId: string) => pseudonymize(`user:${userId}`);

async function head(workspaceId: string, subject: string): Promise<{ seq: number; hash: string }> {
  const out = await db().send(
    new QueryCommand({
      TableName: tableName(),
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: {
        ':pk': auditKeys.trail(workspaceId, subject),
        ':p': auditKeys.entryPrefix,
      },
      ScanIndexForward: false,
      Limit: 1,
      ConsistentRead: true,
    }),
  );
  const last = out.Items?.[0] as StoredEntry | undefined;
  return last ? { seq: last.seq, hash: last.hash } : { seq: 0, hash: GENESIS_HASH };
}

/** The next entry of the subject's trail and the items that write it (entry, then its personal data). */
async function prepare(input: AuditInput): Promise<{ entry: AuditEntry; items: TransactItem[] }> {
  const subject = await subjectOf(input.subjectUserId);
  const last = await head(input.workspaceId, subject);
  const at = input.at ?? new Date().toISOString();
  const seq = last.seq + 1;
  const actor: AuditEntry['actor'] = input.actor.system
    ? { type: 'system', id: input.actor.system }
    : input.actor.tokenId
      ? { type: 'token', id: input.actor.tokenId, user: await subjectOf(input.actor.userId ?? '') }
      : { type: 'user', id: await subjectOf(input.actor.userId ?? '') };
  const content: Omit<AuditEntry, 'hash'> = {
    workspace_id: input.workspaceId,
    subject,
    seq,
    at,
    action: input.action,
    actor,
    target: input.target,
    before: input.before ?? null,
    after: input.after ?? null,
    policy_version: input.policyVersion ?? null,
    method: input.method ?? 'api',
    prev_hash: last.hash,
  };
  const entry: AuditEntry = { ...content, hash: entryHash(content) };
  const ttl = ttlIn(config().CONSENT_AUDIT_LOG_RETENTION_DAYS * DAY_SECONDS, Date.parse(at));
  const stored: StoredEntry = {
    ...auditKeys.entry(input.workspaceId, subject, seq),
    ...auditKeys.byWorkspace(input.workspaceId, at, subject, seq),
    entity: 'AuditEntry',
    ...entry,
    ttl,
  };
  const personal = {
    ...auditKeys.personal(subject, input.workspaceId, seq),
    entity: 'AuditPersonalData',
    user_id: input.subjectUserId,
    ...(input.actor.userId && input.actor.userId !== input.subjectUserId
      ? { actor_user_id: input.actor.userId }
      : {}),
    ip: input.source?.ip ?? null,
    user_agent: input.source?.userAgent ?? null,
    ttl,
  };
  return {
    entry,
    items: [
      { Put: { TableName: tableName(), Item: stored, ConditionExpression: 'attribute_not_exists(pk)' } },
      { Put: { TableName: tableName(), Item: personal } },
    ],
  };
}

/**
 * Writes `change` (a feature's transaction items) together with its audit entries, in one
 * transaction: both or neither. `change` gets the entries about to be written (a receipt may name
 * them) and is rebuilt on each try. Its items come first and keep their indexes, so the caller
 * reads its own refused conditions with `conditionFailedAt(err, i)` as usual. When another append
 * took the same place in a trail meanwhile, everything is prepared again and retried.
 */
export async function writeAudited(
  audits: AuditInput[],
  change: (entries: AuditEntry[]) => TransactItem[] | Promise<TransactItem[]>,
  opts: { attempts?: number } = {},
): Promise<AuditEntry[]> {
  const trails = [...new Set(audits.map((a) => `${a.workspaceId}\u0000${a.subjectUserId}`))].sort();
  return withTrailLocks(trails, () => appendAudited(audits, change, opts.attempts ?? 20));
}

/**
 * Appends to one trail from one process take turns in the process (a promise chain per trail),
 * so a worker or a busy local runtime does not race itself on a chain's head; appends from other
 * processes still race, and lose to a conditional put, as below.
 */
const trailLocks = new Map<string, Promise<unknown>>();
async function withTrailLocks<T>(trails: string[], fn: () => Promise<T>): Promise<T> {
  if (!trails.length) return fn();
  const [first, ...rest] = trails as [string, ...string[]];
  const previous = trailLocks.get(first) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => withTrailLocks(rest, fn));
  const settled = run.catch(() => undefined);
  trailLocks.set(first, settled);
  void settled.then(() => {
    if (trailLocks.get(first) === settled) trailLocks.delete(first);
  });
  return run;
}

async function appendAudited(
  audits: AuditInput[],
  change: (entries: AuditEntry[]) => TransactItem[] | Promise<TransactItem[]>,
  attempts: number,
): Promise<AuditEntry[]> {
  for (let attempt = 1; ; attempt++) {
    const prepared = await Promise.all(audits.map(prepare));
    const items = await change(prepared.map((p) => p.entry));
    const auditItems = prepared.flatMap((p) => p.items);
    try {
      await transactWrite([...items, ...auditItems]);
      return prepared.map((p) => p.entry);
    } catch (err) {
      const codes = cancellationCodes(err);
      const lostRace = codes?.slice(items.length).some((c) => c === 'ConditionalCheckFailed');
      const ownFailed = codes?.slice(0, items.length).some((c) => c === 'ConditionalCheckFailed');
      if (!lostRace || ownFailed || attempt >= attempts) throw err;
      // A trail is a chain: concurrent appends to one subject take turns (full jitter, ≤ 1 s).
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(1000, 10 * 2 ** attempt)));
    }
  }
}

/** An entry as the API shows it, with its personal data when it still exists. */
export interface AuditView extends AuditEntry {
  source: { user_id: string | null; ip: string | null; user_agent: string | null } | null;
}

async function withPersonalData(entries: StoredEntry[]): Promise<AuditView[]> {
  const keys = entries.map((e) => auditKeys.personal(e.subject, e.workspace_id, e.seq));
  const found = new Map<string, Record<string, unknown>>();
  for (const item of await batchGet<Record<string, unknown>>(keys)) found.set(`${item.pk}|${item.sk}`, item);
  return entries.map((e) => {
    const k = auditKeys.personal(e.subject, e.workspace_id, e.seq);
    const p = found.get(`${k.pk}|${k.sk}`);
    return {
      ...pick(e),
      hash: e.hash,
      source: p
        ? {
            user_id: (p.user_id as string) ?? null,
            ip: (p.ip as string | null) ?? null,
            user_agent: (p.user_agent as string | null) ?? null,
          }
        : null,
    };
  });
}

/** A page of one user's trail in a workspace, newest first. */
export async function listTrail(
  workspaceId: string,
  userId: string,
  page: { limit: number; cursor?: string },
) {
  const pk = auditKeys.trail(workspaceId, await subjectOf(userId));
  const out = await queryPage(
    {
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': pk, ':p': auditKeys.entryPrefix },
      ScanIndexForward: false,
    },
    { scope: { list: 'audit-trail', key: { pk, sk: { prefix: auditKeys.entryPrefix } } }, ...page },
  );
  return {
    data: await withPersonalData(out.items as unknown as StoredEntry[]),
    next_cursor: out.next_cursor,
  };
}

/** A page of a workspace's entries (every subject), newest first. */
export async function listWorkspaceTrail(workspaceId: string, page: { limit: number; cursor?: string }) {
  const gsi1pk = auditKeys.workspacePartition(workspaceId);
  const out = await queryPage(
    {
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pk',
      ExpressionAttributeValues: { ':pk': gsi1pk },
      ScanIndexForward: false,
    },
    {
      scope: {
        list: 'audit-workspace',
        key: {
          gsi1pk,
          gsi1sk: { pattern: /^\d{4}-\d\d-\d\dT[0-9:.]+Z#[A-Za-z0-9_-]+#SEQ#\d{12}$/ },
          pk: { prefix: `${auditKeys.trail(workspaceId, '')}` },
          sk: { prefix: auditKeys.entryPrefix },
        },
      },
      ...page,
    },
  );
  return {
    data: await withPersonalData(out.items as unknown as StoredEntry[]),
    next_cursor: out.next_cursor,
  };
}

/** What verifying a trail found. */
export interface Verification {
  valid: boolean;
  entries: number;
  head: { seq: number; hash: string } | null;
  /** The first entry that breaks the chain, and why. */
  broken?: { seq: number; reason: string };
  /** Entries before this sequence number have expired (retention); the chain is checked from it. */
  first_seq?: number;
}

/**
 * Recomputes a chain, oldest first: each entry's hash over its content, its link to the one
 * before and the sequence without gaps. The oldest entries may have expired with the retention
 * period: a trail may then start at an entry whose predecessor is gone, but only if that entry
 * is itself near the end of the retention period (otherwise entries were removed).
 */
export function verifyEntries(entries: AuditEntry[], now = Date.now()): Verification {
  let prev: AuditEntry | undefined;
  const retentionMs = config().CONSENT_AUDIT_LOG_RETENTION_DAYS * DAY_SECONDS * 1000;
  for (const e of entries) {
    const fail = (reason: string): Verification => ({
      valid: false,
      entries: entries.length,
      head: prev ? { seq: prev.seq, hash: prev.hash } : null,
      broken: { seq: e.seq, reason },
    });
    if (entryHash(e) !== e.hash) return fail('its content does not match its hash (the entry was changed)');
    if (prev) {
      if (e.seq !== prev.seq + 1) return fail(`entries ${prev.seq + 1}–${e.seq - 1} are missing`);
      if (e.prev_hash !== prev.hash) return fail('it does not link to the entry before it');
    } else if (e.seq === 1) {
      if (e.prev_hash !== GENESIS_HASH) return fail('the first entry does not start the chain');
    } else if (now - Date.parse(e.at) < retentionMs - 2 * DAY_SECONDS * 1000) {
      // Expired predecessors are older than the retention period; this one is too young for that.
      return fail(`entries 1–${e.seq - 1} are missing and cannot have expired yet`);
    }
    prev = e;
  }
  return {
    valid: true,
    entries: entries.length,
    head: prev ? { seq: prev.seq, hash: prev.hash } : null,
    ...(entries[0] && entries[0].seq > 1 ? { first_seq: entries[0].seq } : {}),
  };
}

async function trailEntries(pk: string): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  for await (const item of queryAll({
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
    ExpressionAttributeValues: { ':pk': pk, ':p': auditKeys.entryPrefix },
    ConsistentRead: true,
  })) {
    out.push(item as unknown as AuditEntry);
  }
  return out;
}

/** Verifies one user's trail in a workspace. */
export async function verifyTrail(workspaceId: string, userId: string): Promise<Verification> {
  return verifyEntries(await trailEntries(auditKeys.trail(workspaceId, await subjectOf(userId))));
}

/** Verifies every trail of a workspace (the subjects found through the workspace index). */
export async function verifyWorkspace(
  workspaceId: string,
): Promise<{ valid: boolean; trails: ({ subject: string } & Verification)[] }> {
  const subjects = new Set<string>();
  for await (const item of queryAll({
    IndexName: 'gsi1',
    KeyConditionExpression: 'gsi1pk = :pk',
    ExpressionAttributeValues: { ':pk': auditKeys.workspacePartition(workspaceId) },
    ProjectionExpression: 'subject',
  })) {
    subjects.add(item.subject as string);
  }
  const trails = [];
  for (const subject of [...subjects].sort()) {
    trails.push({ subject, ...verifyEntries(await trailEntries(auditKeys.trail(workspaceId, subject))) });
  }
  return { valid: trails.every((t) => t.valid), trails };
}

/**
 * Erases a user's personal data from the audit log of every workspace (their entries stay, under
 * their pseudonym, and still verify). Idempotent; returns how many items it deleted.
 */
export async function erasePersonalData(userId: string): Promise<number> {
  const subject = await subjectOf(userId);
  let deleted = 0;
  let keys: ItemKey[] = [];
  for await (const item of queryAll({
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': auditKeys.personalPartition(subject) },
    ProjectionExpression: 'pk, sk',
  })) {
    keys.push({ pk: item.pk as string, sk: item.sk as string });
    if (keys.length === 1000) {
      deleted += await batchDelete(keys);
      keys = [];
    }
  }
  deleted += await batchDelete(keys);
  return deleted;
}
