import { BatchWriteCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import * as v from 'valibot';
import { config } from '#shared/config.ts';
import { db, tableName } from '#shared/db/client.ts';
import { keys } from '#shared/db/keys.ts';
import { queryPage } from '#shared/db/pagination.ts';
import { ValidationError } from '#shared/errors.ts';
import { logger } from '#shared/logger.ts';
import { sendJson } from '#shared/queues.ts';
import { type CheckResult, check, isoDateTime } from '#shared/validation.ts';
import type { UsageLogsQuery, usageAggregatesSchema, usageLogPageSchema } from './schemas.ts';
import { getToken, touchLastUsed } from './token-store.ts';

/** One API call made with a token, as the HTTP layer puts it on the usage queue. */
export const usageRecord = v.object({
  id: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
  token_id: v.pipe(v.string(), v.minLength(1), v.maxLength(64)),
  user_id: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
  workspace_id: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
  method: v.pipe(v.string(), v.maxLength(10)),
  route: v.pipe(v.string(), v.maxLength(300)),
  status: v.pipe(v.number(), v.safeInteger(), v.minValue(100), v.maxValue(599)),
  latency_ms: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
  at: isoDateTime(),
  client_ip: v.nullable(v.pipe(v.string(), v.maxLength(64))),
});
export type UsageRecord = v.InferOutput<typeof usageRecord>;

/** Queues a usage record: one SQS message, no DynamoDB call on the request's path. */
export async function enqueueUsage(record: UsageRecord): Promise<void> {
  await sendJson('USAGE_QUEUE_URL', record);
}

function logItem(r: UsageRecord): Record<string, unknown> {
  const sk = `${r.at}#${r.id}`;
  return {
    pk: keys.usageOfUser(r.workspace_id, r.user_id),
    sk,
    gsi1pk: keys.usageOfToken(r.token_id),
    gsi1sk: sk,
    entity: 'ApiUsageLog',
    ...r,
    ttl: Math.floor(Date.parse(r.at) / 1000) + config().API_USAGE_LOG_RETENTION_DAYS * 86_400,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Writes a batch of usage messages: log items with BatchWriteItem (25 per call, unprocessed items
 * retried with backoff) and each token's latest `last_used_at`/`last_used_ip`. Idempotent: the
 * log item is keyed by the request id, and last-used only moves forward. Returns the ids of the
 * messages that could not be written (to be retried by SQS); invalid messages are dropped.
 */
export async function recordUsageBatch(messages: { messageId: string; body: string }[]): Promise<string[]> {
  const failed = new Set<string>();
  const byKey = new Map<string, { item: Record<string, unknown>; messageIds: string[] }>();
  const latest = new Map<string, { record: UsageRecord; messageIds: string[] }>();
  for (const m of messages) {
    let parsed: CheckResult<UsageRecord>;
    try {
      parsed = check(usageRecord, JSON.parse(m.body));
    } catch {
      parsed = check(usageRecord, undefined);
    }
    if (!parsed.success) {
      logger.warn('invalid usage message dropped', { message_id: m.messageId });
      continue;
    }
    const r = parsed.data;
    const item = logItem(r);
    const key = `${item.pk}|${item.sk}`;
    const entry = byKey.get(key) ?? { item, messageIds: [] };
    entry.messageIds.push(m.messageId);
    byKey.set(key, entry);
    const last = latest.get(r.token_id);
    if (!last || last.record.at < r.at)
      latest.set(r.token_id, { record: r, messageIds: [m.messageId, ...(last?.messageIds ?? [])] });
    else last.messageIds.push(m.messageId);
  }

  const entries = [...byKey.values()];
  for (let i = 0; i < entries.length; i += 25) {
    const chunk = entries.slice(i, i + 25);
    let pending = chunk.map((e) => ({ PutRequest: { Item: e.item } }));
    for (let attempt = 0; pending.length && attempt < 5; attempt++) {
      if (attempt) await sleep(50 * 2 ** attempt);
      const out = await db().send(new BatchWriteCommand({ RequestItems: { [tableName()]: pending } }));
      pending = (out.UnprocessedItems?.[tableName()] ?? []) as typeof pending;
    }
    for (const p of pending) {
      const item = p.PutRequest.Item;
      for (const id of byKey.get(`${item.pk}|${item.sk}`)?.messageIds ?? []) failed.add(id);
    }
  }

  await Promise.all(
    [...latest.values()].map(async ({ record, messageIds }) => {
      try {
        await touchLastUsed({
          workspaceId: record.workspace_id,
          userId: record.user_id,
          tokenId: record.token_id,
          at: record.at,
          ip: record.client_ip ?? undefined,
        });
      } catch (err) {
        logger.error('last-used update failed', { token_id: record.token_id, error: err as Error });
        for (const id of messageIds) failed.add(id);
      }
    }),
  );
  return [...failed];
}

/** Aggregates cover at most this many logs of the range (the newest); `truncated` says when more exist. */
export const AGGREGATE_MAX_LOGS = 10_000;
const DEFAULT_RANGE_MS = 24 * 3600 * 1000;
const STATUS_RANGES = { '2xx': [200, 299], '3xx': [300, 399], '4xx': [400, 499], '5xx': [500, 599] } as const;

type Aggregates = v.InferOutput<typeof usageAggregatesSchema>;
type QueryBase = ConstructorParameters<typeof QueryCommand>[0] & {
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues: Record<string, unknown>;
};

/**
 * The usage logs of the caller's tokens in the workspace (or of one of them), newest first,
 * with aggregates over the whole requested range.
 */
export async function listUsageLogs(
  workspaceId: string,
  userId: string,
  q: UsageLogsQuery,
  now = new Date(),
): Promise<v.InferOutput<typeof usageLogPageSchema>> {
  const to = q.to ? new Date(q.to) : now;
  const from = q.from ? new Date(q.from) : new Date(to.getTime() - DEFAULT_RANGE_MS);
  if (from >= to) {
    throw new ValidationError('The range is empty.', [
      { path: 'query.from', message: 'Must be before `to`' },
    ]);
  }
  const retentionDays = config().API_USAGE_LOG_RETENTION_DAYS;
  if (to.getTime() - from.getTime() > retentionDays * 86_400_000) {
    // Logs live that long: a wider range finds nothing more and only costs reads.
    throw new ValidationError(`The range may span at most the ${retentionDays}-day log retention.`, [
      { path: 'query.from', message: `Must be at most ${retentionDays} days before \`to\`` },
    ]);
  }
  if (q.token_id) await getToken(workspaceId, userId, q.token_id); // 404 unless it is the caller's
  const byToken = q.token_id !== undefined;
  const pkName = byToken ? 'gsi1pk' : 'pk';
  const skName = byToken ? 'gsi1sk' : 'sk';
  const pkValue = byToken ? keys.usageOfToken(q.token_id as string) : keys.usageOfUser(workspaceId, userId);
  const base: QueryBase = {
    TableName: tableName(),
    ...(byToken ? { IndexName: 'gsi1' } : {}),
    KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
    ExpressionAttributeNames: { '#pk': pkName, '#sk': skName, '#ttl': 'ttl' },
    ExpressionAttributeValues: {
      ':pk': pkValue,
      ':from': from.toISOString(),
      ':to': to.toISOString(),
      ':nowe': Math.floor(now.getTime() / 1000),
    },
    ScanIndexForward: false,
  };
  let filter = '#ttl > :nowe';
  if (q.status_class) {
    const [lo, hi] = STATUS_RANGES[q.status_class];
    filter += ' AND #status BETWEEN :lo AND :hi';
    base.ExpressionAttributeNames['#status'] = 'status';
    base.ExpressionAttributeValues[':lo'] = lo;
    base.ExpressionAttributeValues[':hi'] = hi;
  }

  const range = { between: [from.toISOString(), to.toISOString()] } as const;
  const { TableName: _table, ...query } = base;
  const page = await queryPage(
    { ...query, FilterExpression: filter },
    {
      scope: {
        list: byToken ? 'usage-logs:token' : 'usage-logs',
        key: byToken
          ? { gsi1pk: pkValue, gsi1sk: range, pk: keys.usageOfUser(workspaceId, userId), sk: range }
          : { pk: pkValue, sk: range },
      },
      limit: q.limit,
      cursor: q.cursor,
    },
  );
  const data: v.InferOutput<typeof usageLogPageSchema>['data'] = page.items.map((it) => ({
    id: it.id as string,
    token_id: it.token_id as string,
    method: it.method as string,
    route: it.route as string,
    status: it.status as number,
    latency_ms: it.latency_ms as number,
    at: it.at as string,
    client_ip: (it.client_ip as string | undefined) ?? null,
  }));
  const aggregates = await aggregate(base, filter, from, to);
  return { data, next_cursor: page.next_cursor, aggregates };
}

async function aggregate(base: QueryBase, filter: string, from: Date, to: Date): Promise<Aggregates> {
  const byStatus: Record<string, number> = {};
  const byClass: Record<string, number> = {};
  const perMinute = new Map<string, number>();
  const perHour = new Map<string, number>();
  let total = 0;
  let start: Record<string, unknown> | undefined;
  let truncated = false;
  do {
    const page = await db().send(
      new QueryCommand({
        ...base,
        FilterExpression: filter,
        ProjectionExpression: '#status, #at',
        ExpressionAttributeNames: { ...base.ExpressionAttributeNames, '#status': 'status', '#at': 'at' },
        Limit: Math.min(1000, AGGREGATE_MAX_LOGS - total),
        ExclusiveStartKey: start,
      }),
    );
    for (const it of page.Items ?? []) {
      total++;
      const status = String(it.status);
      byStatus[status] = (byStatus[status] ?? 0) + 1;
      const cls = `${status[0]}xx`;
      byClass[cls] = (byClass[cls] ?? 0) + 1;
      const at = String(it.at);
      const minute = `${at.slice(0, 16)}:00.000Z`;
      const hour = `${at.slice(0, 13)}:00:00.000Z`;
      perMinute.set(minute, (perMinute.get(minute) ?? 0) + 1);
      perHour.set(hour, (perHour.get(hour) ?? 0) + 1);
    }
    start = page.LastEvaluatedKey;
    if (start && total >= AGGREGATE_MAX_LOGS) {
      truncated = true;
      break;
    }
  } while (start);
  const series = (m: Map<string, number>) =>
    [...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([start, count]) => ({ start, count }));
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    total,
    by_status: byStatus,
    by_status_class: byClass,
    per_minute: series(perMinute),
    per_hour: series(perHour),
    truncated,
  };
}
