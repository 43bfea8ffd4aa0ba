import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import * as v from 'valibot';
import { beforeAll, describe, expect, it } from 'vitest';
import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/routes.ts';
import { handler as getRateLimit } from '#functions/tokens/get-rate-limit.ts';
import { handler as listUsageLogs } from '#functions/tokens/list-usage-logs.ts';
import { handler as recordUsage } from '#functions/workers/record-usage.ts';
import { db, tableName } from '#shared/db/client.ts';
import { keys } from '#shared/db/keys.ts';
import { ok } from '#shared/http/reply.ts';
import { route } from '#shared/http/route.ts';
import type { UsageRecord } from '#shared/tokens/usage.ts';
import { recordUsageBatch } from '#shared/tokens/usage.ts';
import { useTestSqs, useTestTable } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { type TestIdentity, testIdentity } from '#test/helpers/session.ts';
import { seedToken } from '#test/helpers/tokens.ts';

const readWebhooks = route({
  id: 'readWebhooksTest',
  method: 'GET',
  path: '/test/read-webhooks',
  handler: 'test/read-webhooks',
  auth: 'user_or_token',
  scopes: ['read:webhooks'],
  summary: 'a route that needs read:webhooks',
  tag: 'Test',
  responses: { 200: { description: 'ok', schema: v.object({}) } },
});
const readWebhooksHandler = endpoint(readWebhooks, () => ok({}));

useTestTable();
const sqs = useTestSqs();
let id: TestIdentity;
let alice: string;
beforeAll(async () => {
  id = await testIdentity();
  alice = await id.jwt('alice', [{ id: 'ws1', role: 'admin' }]);
});

async function drainUsageQueue(): Promise<{ messageId: string; body: string }[]> {
  const client = new SQSClient({
    endpoint: sqs.current.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  const out: { messageId: string; body: string }[] = [];
  for (;;) {
    const res = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: sqs.current.urls.usage,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
      }),
    );
    if (!res.Messages?.length) break;
    for (const m of res.Messages) out.push({ messageId: m.MessageId ?? '', body: m.Body ?? '' });
  }
  client.destroy();
  return out;
}

let seq = 0;
const record = (over: Partial<UsageRecord>): UsageRecord => ({
  id: `req-${++seq}`,
  token_id: 'tok_x',
  user_id: 'alice',
  workspace_id: 'ws1',
  method: 'GET',
  route: '/webhooks',
  status: 200,
  latency_ms: 12,
  at: '2026-05-01T10:00:00.000Z',
  client_ip: '203.0.113.7',
  ...over,
});
const asMessages = (records: UsageRecord[]) =>
  records.map((r, i) => ({ messageId: `msg-${seq}-${i}`, body: JSON.stringify(r) }));

describe('usage accounting', () => {
  it('queues one usage record per token request, refused ones included, and none for sessions', async () => {
    const { id: tokenId, value } = await seedToken({ userId: 'alice', scopes: ['read:tasks'] });
    await drainUsageQueue();
    await invoke(getRateLimit, routes.getRateLimit, { token: value, sourceIp: '198.51.100.4' });
    await invoke(getRateLimit, routes.getRateLimit, { token: alice });
    const refused = await invoke(readWebhooksHandler, readWebhooks, { token: value });
    expect(refused.status).toBe(403);
    const messages = await drainUsageQueue();
    expect(messages).toHaveLength(2);
    const [allowed, denied] = messages.map((m) => JSON.parse(m.body)).sort((a, b) => a.status - b.status);
    expect(denied).toMatchObject({ token_id: tokenId, route: '/test/read-webhooks', status: 403 });
    expect(allowed).toMatchObject({
      token_id: tokenId,
      user_id: 'alice',
      workspace_id: 'ws1',
      method: 'GET',
      route: '/rate-limit',
      status: 200,
      latency_ms: expect.any(Number),
      client_ip: '198.51.100.4',
    });
    for (const m of messages) expect(m.body).not.toContain(value);
  });

  it('records a request refused for naming another workspace than the token’s', async () => {
    const { id: tokenId, value } = await seedToken({ userId: 'alice', scopes: ['read:tasks'] });
    await drainUsageQueue();
    const res = await invoke(getRateLimit, routes.getRateLimit, {
      token: value,
      headers: { 'x-workspace-id': 'ws-other' },
    });
    expect(res.status).toBe(403);
    const messages = (await drainUsageQueue()).map((m) => JSON.parse(m.body));
    expect(messages).toEqual([
      expect.objectContaining({ token_id: tokenId, status: 403, route: '/rate-limit' }),
    ]);
  });

  it('writes logs with a retention TTL and the token’s last use, idempotently', async () => {
    const { id: tokenId } = await seedToken({ userId: 'alice' });
    const a = record({ token_id: tokenId, at: '2026-05-01T10:00:00.000Z', client_ip: '198.51.100.1' });
    const b = record({ token_id: tokenId, at: '2026-05-01T10:00:05.000Z', client_ip: '198.51.100.2' });
    const messages = asMessages([b, a, b]);
    const res = await recordUsage({ Records: messages.map((m) => ({ ...m, receiptHandle: 'r' })) } as never);
    expect(res.batchItemFailures).toEqual([]);
    const log = await db().send(
      new GetCommand({
        TableName: tableName(),
        Key: { pk: keys.usageOfUser('ws1', 'alice'), sk: `${b.at}#${b.id}` },
      }),
    );
    expect(log.Item?.ttl).toBe(Math.floor(Date.parse(b.at) / 1000) + 90 * 86_400);
    const token = await db().send(
      new GetCommand({ TableName: tableName(), Key: keys.apiToken('ws1', 'alice', tokenId) }),
    );
    expect(token.Item).toMatchObject({ last_used_at: b.at, last_used_ip: '198.51.100.2' });
    // An older record arriving late does not move last use back.
    expect(
      await recordUsageBatch(asMessages([record({ token_id: tokenId, at: '2026-05-01T09:00:00.000Z' })])),
    ).toEqual([]);
    const again = await db().send(
      new GetCommand({ TableName: tableName(), Key: keys.apiToken('ws1', 'alice', tokenId) }),
    );
    expect(again.Item?.last_used_at).toBe(b.at);
  });

  it('drops malformed messages instead of retrying them forever', async () => {
    expect(
      await recordUsageBatch([
        { messageId: 'm1', body: '{' },
        { messageId: 'm2', body: '{"id":1}' },
      ]),
    ).toEqual([]);
  });
});

// Logs of the previous full hour (TTL-filtered reads need recent times).
const HOUR = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000;
const iso = (offsetMs: number) => new Date(HOUR + offsetMs).toISOString();

describe('GET /tokens/usage-logs', () => {
  let t1: string;
  let t2: string;
  beforeAll(async () => {
    t1 = (await seedToken({ userId: 'alice', workspaceId: 'wsU' })).id;
    t2 = (await seedToken({ userId: 'alice', workspaceId: 'wsU' })).id;
    const base = HOUR;
    const records: UsageRecord[] = [];
    for (let i = 0; i < 30; i++) {
      records.push(
        record({
          workspace_id: 'wsU',
          token_id: i % 3 === 0 ? t2 : t1,
          status: i % 5 === 0 ? 429 : i % 7 === 0 ? 500 : 200,
          at: new Date(base + i * 20_000).toISOString(), // every 20 s: 10 minutes
        }),
      );
    }
    records.push(record({ workspace_id: 'wsU', user_id: 'bob', token_id: 'tok_bobs', at: iso(60_000) }));
    expect(await recordUsageBatch(asMessages(records))).toEqual([]);
  });

  const wsu = async () => id.jwt('alice', [{ id: 'wsU', role: 'admin' }]);
  const range = { from: iso(-3_600_000), to: iso(3_600_000) };

  it('lists the caller’s logs newest first with aggregates over the range', async () => {
    const res = await invoke(listUsageLogs, routes.listUsageLogs, {
      token: await wsu(),
      query: { ...range, limit: '5' },
    });
    expect(res.status).toBe(200);
    expect(res.body.data).toHaveLength(5);
    expect(res.body.data[0].at).toBe(iso(29 * 20_000));
    expect(res.body.aggregates).toMatchObject({
      total: 30,
      by_status: { '200': 20, '429': 6, '500': 4 },
      by_status_class: { '2xx': 20, '4xx': 6, '5xx': 4 },
      per_hour: [{ start: iso(0), count: 30 }],
      truncated: false,
    });
    expect(res.body.aggregates.per_minute).toHaveLength(10);
    expect(res.body.aggregates.per_minute[0]).toEqual({ start: iso(0), count: 3 });
    const all = [...res.body.data];
    let cursor = res.body.next_cursor;
    while (cursor) {
      const next = await invoke(listUsageLogs, routes.listUsageLogs, {
        token: await wsu(),
        query: { ...range, limit: '5', cursor },
      });
      all.push(...next.body.data);
      cursor = next.body.next_cursor;
    }
    expect(all).toHaveLength(30);
    expect(new Set(all.map((l) => l.id)).size).toBe(30);
  });

  it('filters by token, status class and time range', async () => {
    const token = await wsu();
    const byToken = await invoke(listUsageLogs, routes.listUsageLogs, {
      token,
      query: { ...range, token_id: t2, limit: '100' },
    });
    expect(byToken.body.data).toHaveLength(10);
    expect(byToken.body.data.every((l: { token_id: string }) => l.token_id === t2)).toBe(true);
    expect(byToken.body.aggregates.total).toBe(10);
    const errors = await invoke(listUsageLogs, routes.listUsageLogs, {
      token,
      query: { ...range, status_class: '4xx', limit: '100' },
    });
    expect(errors.body.data.map((l: { status: number }) => l.status)).toEqual(Array(6).fill(429));
    const window = await invoke(listUsageLogs, routes.listUsageLogs, {
      token,
      query: { from: iso(60_000), to: iso(120_000), limit: '100' },
    });
    expect(window.body.data).toHaveLength(3);
  });

  it("answers 404 for another user's token id and 400 for a bad range or status class", async () => {
    const token = await wsu();
    const bob = await id.jwt('bob', [{ id: 'wsU', role: 'admin' }]);
    expect(
      (await invoke(listUsageLogs, routes.listUsageLogs, { token: bob, query: { token_id: t1 } })).status,
    ).toBe(404);
    const backwards = await invoke(listUsageLogs, routes.listUsageLogs, {
      token,
      query: { from: iso(3_600_000), to: iso(0) },
    });
    expect(backwards.status).toBe(400);
    const tooWide = await invoke(listUsageLogs, routes.listUsageLogs, {
      token,
      query: { from: iso(-91 * 86_400_000), to: iso(0) },
    });
    expect(tooWide.status).toBe(400);
    expect(tooWide.body.errors[0].path).toBe('query.from');
    const retention = await invoke(listUsageLogs, routes.listUsageLogs, {
      token,
      query: { from: iso(-90 * 86_400_000), to: iso(0) },
    });
    expect(retention.status).toBe(200);
    const badClass = await invoke(listUsageLogs, routes.listUsageLogs, {
      token,
      query: { status_class: '6xx' },
    });
    expect(badClass.status).toBe(400);
    const bobs = await invoke(listUsageLogs, routes.listUsageLogs, { token: bob, query: range });
    expect(bobs.body.data).toHaveLength(1);
  });
});
