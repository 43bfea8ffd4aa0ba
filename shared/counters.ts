/**
 * Counters of the status view (`GET /status/workspace`): how many of each thing a workspace (and
 * the whole service) has, kept up to date by the features at their transitions, so the status
 * function reads them with ONE Query per scope and bundles no feature code. Platform code: it
 * knows no feature; a feature names its own counters, and the view renders whatever is there.
 *
 * Items (S5, S6 in shared/db/README.md):
 * - a workspace's counters: `pk = COUNTERS#WS#<urlencoded ws>`;
 * - the service-wide ones, the same counters summed over every workspace as they change (never at
 *   read time): in the status partition (`pk = STATUS`, `sk = COUNTER#…`), so an operator's read
 *   of the status lines and of these counters is the same one Query.
 *
 * `sk = <feature>#<counter>#<bucket | *>`; the item carries `feature`, `counter`, `bucket` and how
 * it is rendered; its counts, `n` (a plain count) or `s#<status>` (one per status, so moving
 * something from one status to another is one write), and its version `v` change by `ADD` only:
 * - a plain count (`tokens … by status`): rendered as is;
 * - `recent`: an hour bucket of when something happened (a delivery created), rendered as the sum
 *   of the buckets of the last `hours` hours; the buckets go by TTL a couple of days later;
 * - `until`: a day bucket of a deadline (a token's expiry), rendered as the sum of the buckets from
 *   today on under `counter` (what has not lapsed) and of the next `days` days under `soon`
 *   (`expiring_7d`). Day grain: what lapses later today still counts until the day ends.
 *
 * Exactness: a feature adds its workspace's items to the transaction of the transition
 * ({@link counterTransactItems}; the transition's condition makes them count once), then the
 * service-wide copies after it committed ({@link addServiceCounters}); where a transition has no
 * transaction, it calls {@link addCounters} once its conditional write succeeded. The service-wide
 * copies stay out of transactions on purpose: every workspace's transitions would otherwise
 * conflict on them. What is left: a process that dies between the commit and the standalone ADD
 * leaves that change uncounted (logged when the ADD fails; never retried, since a retry could not
 * tell whether it had been counted).
 *
 * Bindings (and any other feature) write their counters the same way, e.g. from
 * shared/bindings/runs.ts, in the transaction that records a run's outcome:
 * `counterTransactItems(ws, [{ feature: 'bindings', counter: 'by_last_run', status: previous, delta: -1 },
 * { feature: 'bindings', counter: 'by_last_run', status: outcome, delta: 1 },
 * { feature: 'bindings', counter: 'runs_24h', status: outcome, delta: 1, recent: { at: finishedAt, hours: 24 } }])`,
 * then `addServiceCounters(sameChanges)`; nothing in the status function changes.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  QueryCommand,
  type QueryCommandOutput,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { CascadeParticipant, CascadeSubject, SweepPage } from '#shared/cascade.ts';
import { db, tableName } from '#shared/db/client.ts';
import { conditionFailedAt } from '#shared/db/conditions.ts';
import { keys } from '#shared/db/keys.ts';
import { transactWrite } from '#shared/db/transact.ts';
import { logger } from '#shared/logger.ts';

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** One change of one counter. */
export interface CounterChange {
  /** The feature that owns the counter (`tokens`, `webhooks`…): the view's top-level key. */
  feature: string;
  /** The counter's name in the view (`active`, `endpoints`, `deliveries_24h`). */
  counter: string;
  /** Counted per status (`ACTIVE`, `succeeded`…): the view shows `{ <status>: n }` under the counter. */
  status?: string;
  /** What to add (negative to take away). */
  delta: number;
  /** Something that happened at `at`: counted in its hour, shown as the sum of the last `hours` hours. */
  recent?: { at: Date | string; hours: number };
  /**
   * Something that lapses at `at`: counted in its day, shown under `counter` while the day has not
   * passed and under `soon` when it lapses within `days` days (today included).
   */
  until?: { at: Date | string; soon: string; days: number };
}

/** A workspace's or the service's counters, per feature: `{ tokens: { active: 3, expiring_7d: 1 } }`. */
export type CounterView = Record<string, Record<string, number | Record<string, number>>>;

const NAME = /^[a-z][a-z0-9_]*$/;
const STATUS = /^[A-Za-z0-9_.-]+$/;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** How long a bucket outlives its window (TTL deletion lags; a late change still finds it). */
const BUCKET_GRACE_S = 2 * 86_400;
/** The attribute of a plain count, and the prefix of the count of one status. */
const PLAIN = 'n';
const BY_STATUS = 's#';
/** What a counter item carries besides its counts (copied onto the service-wide item). */
const DESCRIPTION = ['feature', 'counter', 'bucket', 'window', 'hours', 'soon', 'days'] as const;

const iso = (at: Date | string) => (typeof at === 'string' ? new Date(at) : at).toISOString();

/** One counter item to change: its sort key, what describes it, and the deltas of its counts. */
interface Target {
  sk: string;
  attrs: Record<string, unknown>;
  ttl?: number;
  /** Count attribute (`n`, `s#<status>`) → delta. */
  deltas: Map<string, number>;
}

function target(c: CounterChange): Target {
  if (!NAME.test(c.feature) || !NAME.test(c.counter)) {
    throw new Error(`Counter names are lower snake case: ${c.feature}.${c.counter}`);
  }
  if (c.status !== undefined && !STATUS.test(c.status)) throw new Error(`Bad counter status: ${c.status}`);
  if (c.recent && c.until) throw new Error('A counter is either recent or until, not both');
  if (!Number.isInteger(c.delta)) throw new Error(`A counter changes by whole numbers: ${c.delta}`);
  const attrs: Record<string, unknown> = { feature: c.feature, counter: c.counter };
  let bucket = '*';
  let ttl: number | undefined;
  if (c.recent) {
    bucket = iso(c.recent.at).slice(0, 13); // 2026-12-02T01
    attrs.window = 'recent';
    attrs.hours = c.recent.hours;
    ttl = Math.floor(Date.parse(`${bucket}:00:00Z`) / 1000) + c.recent.hours * 3600 + BUCKET_GRACE_S;
  } else if (c.until) {
    if (!NAME.test(c.until.soon)) throw new Error(`Counter names are lower snake case: ${c.until.soon}`);
    bucket = iso(c.until.at).slice(0, 10); // 2026-12-02
    attrs.window = 'until';
    attrs.soon = c.until.soon;
    attrs.days = c.until.days;
    ttl = Math.floor(Date.parse(`${bucket}T00:00:00Z`) / 1000) + 86_400 + BUCKET_GRACE_S;
  }
  if (bucket !== '*') attrs.bucket = bucket;
  const count = c.status === undefined ? PLAIN : `${BY_STATUS}${c.status}`;
  return {
    sk: `${c.feature}#${c.counter}#${bucket}`,
    attrs,
    ...(ttl ? { ttl } : {}),
    deltas: new Map([[count, c.delta]]),
  };
}

/**
 * The changes summed per item (a transaction may name an item once; a status move is one write),
 * counts that net to zero dropped, and items left with none.
 */
function merge(changes: readonly CounterChange[]): Target[] {
  const out = new Map<string, Target>();
  for (const c of changes) {
    const t = target(c);
    const prev = out.get(t.sk);
    if (!prev) {
      out.set(t.sk, t);
      continue;
    }
    for (const [count, d] of t.deltas) prev.deltas.set(count, (prev.deltas.get(count) ?? 0) + d);
  }
  for (const t of out.values()) for (const [count, d] of t.deltas) if (d === 0) t.deltas.delete(count);
  return [...out.values()].filter((t) => t.deltas.size > 0);
}

type Scope = { workspaceId: string } | 'service';

function keyOf(scope: Scope, sk: string) {
  return scope === 'service' ? keys.serviceCounter(sk) : keys.workspaceCounter(scope.workspaceId, sk);
}

/**
 * The UpdateItem of one counter item: `ADD` of each count and of the item's version `v` (which
 * the cascade's drop is conditional on), `SET` of what describes it.
 */
function update(scope: Scope, t: Target, now: string) {
  const values: Record<string, unknown> = { ':one': 1, ':e': 'Counter', ':now': now };
  const names: Record<string, string> = { '#v': 'v' };
  const adds = ['#v :one'];
  [...t.deltas].forEach(([count, d], i) => {
    names[`#c${i}`] = count;
    values[`:c${i}`] = d;
    adds.push(`#c${i} :c${i}`);
  });
  const sets = ['entity = :e', 'updated_at = :now'];
  Object.entries(t.attrs).forEach(([name, value], i) => {
    names[`#a${i}`] = name;
    values[`:a${i}`] = value;
    sets.push(`#a${i} = :a${i}`);
  });
  if (t.ttl) {
    names['#ttl'] = 'ttl';
    values[':ttl'] = t.ttl;
    sets.push('#ttl = :ttl');
  }
  if (scope !== 'service') {
    names['#ws'] = 'workspace_id';
    values[':ws'] = scope.workspaceId;
    sets.push('#ws = :ws');
  }
  return {
    TableName: tableName(),
    Key: keyOf(scope, t.sk),
    UpdateExpression: `ADD ${adds.join(', ')} SET ${sets.join(', ')}`,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

/**
 * The workspace's counter updates to add to the transaction of a transition (one item per counter
 * touched; none when the changes cancel out). Follow the commit with {@link addServiceCounters}.
 */
export function counterTransactItems(workspaceId: string, changes: readonly CounterChange[]): TransactItem[] {
  const now = new Date().toISOString();
  return merge(changes).map((t) => ({ Update: update({ workspaceId }, t, now) }));
}

interface Pending {
  scope: Scope;
  changes: readonly CounterChange[];
}

/** The changes a worker invocation holds back until its batch is done (see {@link withCounterBuffer}). */
const buffer = new AsyncLocalStorage<Pending[]>();

async function write(pending: readonly Pending[]): Promise<void> {
  const byScope = new Map<string, { scope: Scope; changes: CounterChange[] }>();
  for (const p of pending) {
    const key = p.scope === 'service' ? '' : `ws:${p.scope.workspaceId}`;
    const entry = byScope.get(key) ?? { scope: p.scope, changes: [] };
    entry.changes.push(...p.changes);
    byScope.set(key, entry);
  }
  const now = new Date().toISOString();
  const writes = [...byScope.values()].flatMap(({ scope, changes }) =>
    merge(changes).map((t) => ({ scope, t })),
  );
  if (!writes.length) return;
  const results = await Promise.allSettled(
    writes.map(({ scope, t }) => db().send(new UpdateCommand(update(scope, t, now)))),
  );
  const failed = results.flatMap((r, i) =>
    r.status === 'rejected' ? [{ w: writes[i], error: r.reason }] : [],
  );
  if (failed.length) {
    // The transitions happened; these counts are lost (drift an operator can see in this line).
    logger.error('counter update failed', {
      counters: failed.map(({ w }) => ({
        scope: w?.scope === 'service' ? 'service' : 'workspace',
        sk: w?.t.sk,
        deltas: Object.fromEntries(w?.t.deltas ?? []),
      })),
      error: failed[0]?.error as Error,
    });
  }
}

async function addStandalone(pending: Pending[]): Promise<void> {
  const held = buffer.getStore();
  if (held) held.push(...pending);
  else await write(pending);
}

/**
 * The service-wide copies of changes whose workspace items a transaction has just committed
 * ({@link counterTransactItems}). Never throws: failures are logged.
 */
export async function addServiceCounters(changes: readonly CounterChange[]): Promise<void> {
  await addStandalone([{ scope: 'service', changes }]);
}

/**
 * A transition without a transaction of its own: the workspace's and the service-wide counters,
 * called once the transition's conditional write succeeded (so a retry, refused by that
 * condition, never counts twice). Never throws: failures are logged.
 */
export async function addCounters(workspaceId: string, changes: readonly CounterChange[]): Promise<void> {
  await addStandalone([
    { scope: { workspaceId }, changes },
    { scope: 'service', changes },
  ]);
}

/**
 * Runs a worker's batch with its standalone counter changes held back and written once it is
 * done, summed per item: a batch of deliveries moves each hour's counter with one write per
 * scope instead of one per delivery (the delivery path's request budget). What a batch that
 * dies before the end held is lost (drift; the transitions themselves are committed).
 */
export async function withCounterBuffer<T>(fn: () => Promise<T>): Promise<T> {
  const pending: Pending[] = [];
  try {
    return await buffer.run(pending, fn);
  } finally {
    await write(pending);
  }
}

/** Renders counter items (of any feature) into the view, as of `now`. */
export function renderCounters(items: readonly Record<string, unknown>[], now = new Date()): CounterView {
  const view: CounterView = {};
  const hourNow = Date.parse(`${now.toISOString().slice(0, 13)}:00:00Z`);
  const today = Date.parse(`${now.toISOString().slice(0, 10)}T00:00:00Z`);
  const add = (feature: string, name: string, status: string | undefined, n: number) => {
    view[feature] ??= {};
    const f = view[feature];
    const current = f[name];
    if (status === undefined) {
      f[name] = (typeof current === 'number' ? current : 0) + n;
      return;
    }
    const byStatus = typeof current === 'object' ? current : {};
    byStatus[status] = (byStatus[status] ?? 0) + n;
    f[name] = byStatus;
  };
  for (const item of items) {
    if (item.entity !== 'Counter') continue;
    const feature = String(item.feature);
    const counter = String(item.counter);
    const bucket = typeof item.bucket === 'string' ? item.bucket : undefined;
    for (const [attr, value] of Object.entries(item)) {
      if (attr !== PLAIN && !attr.startsWith(BY_STATUS)) continue;
      const status = attr === PLAIN ? undefined : attr.slice(BY_STATUS.length);
      const n = Number(value ?? 0);
      if (item.window === 'recent' && bucket) {
        const start = Date.parse(`${bucket}:00:00Z`);
        add(feature, counter, status, start > hourNow - Number(item.hours) * HOUR_MS ? n : 0);
      } else if (item.window === 'until' && bucket) {
        const day = Date.parse(`${bucket}T00:00:00Z`);
        add(feature, counter, status, day >= today ? n : 0);
        add(
          feature,
          String(item.soon),
          status,
          day >= today && day < today + Number(item.days) * DAY_MS ? n : 0,
        );
      } else {
        add(feature, counter, status, n);
      }
    }
  }
  return view;
}

/** Every item of a partition of counters (one page unless it holds more than 1 MB). */
async function readPartition(input: { pk: string; skPrefix?: string }): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out: QueryCommandOutput = await db().send(
      new QueryCommand({
        TableName: tableName(),
        KeyConditionExpression: input.skPrefix ? 'pk = :pk AND begins_with(sk, :p)' : 'pk = :pk',
        ExpressionAttributeValues: { ':pk': input.pk, ...(input.skPrefix ? { ':p': input.skPrefix } : {}) },
        ExclusiveStartKey: start,
      }),
    );
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

/** A workspace's counters: ONE Query of its counter partition. */
export async function readWorkspaceCounters(workspaceId: string, now = new Date()): Promise<CounterView> {
  return renderCounters(await readPartition({ pk: keys.workspaceCounters(workspaceId) }), now);
}

/**
 * Every item of the status partition: the service-wide counters (`COUNTER#…`) and the status
 * lines (`LINE#…`), in ONE Query (an operator's status view).
 */
export async function readStatusPartition(): Promise<Record<string, unknown>[]> {
  return readPartition({ pk: keys.statusPartition });
}

/** Counter items a sweep page drops at most. */
const DROP_PAGE = 50;

/**
 * Drops one counter of a deleted workspace and takes its counts out of the service-wide copy, in
 * one transaction conditional on the version read: a page run again (SQS redelivers) finds the
 * item gone, and a change landing in between makes it read again, so the service total moves once.
 */
async function dropOne(workspaceId: string, item: Record<string, unknown>): Promise<boolean> {
  const sk = String(item.sk);
  const deltas = new Map<string, number>();
  for (const [attr, value] of Object.entries(item)) {
    if ((attr === PLAIN || attr.startsWith(BY_STATUS)) && Number(value)) deltas.set(attr, -Number(value));
  }
  const items: TransactItem[] = [
    {
      Delete: {
        TableName: tableName(),
        Key: keys.workspaceCounter(workspaceId, sk),
        ConditionExpression: '#v = :v',
        ExpressionAttributeNames: { '#v': 'v' },
        ExpressionAttributeValues: { ':v': item.v },
      },
    },
  ];
  if (deltas.size) {
    const attrs = Object.fromEntries(
      DESCRIPTION.filter((a) => item[a] !== undefined).map((a) => [a, item[a]]),
    );
    const ttl = typeof item.ttl === 'number' ? item.ttl : undefined;
    items.push({
      Update: update('service', { sk, attrs, ...(ttl ? { ttl } : {}), deltas }, new Date().toISOString()),
    });
  }
  try {
    await transactWrite(items);
    return true;
  } catch (err) {
    if (conditionFailedAt(err, 0)) return false; // gone, or changed: the next page reads it again
    throw err;
  }
}

async function sweepWorkspace(s: CascadeSubject): Promise<SweepPage> {
  const out = await db().send(
    new QueryCommand({
      TableName: tableName(),
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.workspaceCounters(s.id) },
      ConsistentRead: true,
      Limit: DROP_PAGE,
    }),
  );
  const found = out.Items ?? [];
  for (const item of found) await dropOne(s.id, item);
  // Bookkeeping, not the subject's data: not reported as deleted (as the tokens' rate-limit counters).
  return { deleted: 0, ...(found.length ? { next: {} } : {}) };
}

/**
 * The counters in the lifecycle cascades: a deleted workspace's counter partition goes, and its
 * counts leave the service-wide copies. Registered last (shared/lifecycle/participants.ts), so
 * the features' own sweeps have run; a deleted user's items are taken out of the counts by the
 * features' sweeps (they know what each item counted for).
 */
export const countersParticipant: CascadeParticipant = {
  name: 'counters',
  kinds: ['workspace'],
  sweep: (s) => sweepWorkspace(s),
};
