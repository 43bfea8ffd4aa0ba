import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { handler } from '#functions/workers/ingest-events.ts';
import { lambdaContext, sqsRecord } from '#infra/local/lambda-event.ts';
import { db, tableName } from '#shared/db/client.ts';
import type { EventConsumer } from '#shared/events/consumers.ts';
import { ingestMessage } from '#shared/events/ingest.ts';
import { setEnv, useTestTable } from '#test/helpers/env.ts';

useTestTable();

const valid = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    id: 'evt_1',
    type: 'task.created',
    workspace_id: 'ws1',
    occurred_at: '2026-11-25T10:00:00Z',
    data: { task_id: 't1' },
    ...over,
  });

async function rejectionsToday() {
  const day = new Date().toISOString().slice(0, 10);
  const out = await db().send(
    new QueryCommand({
      TableName: tableName(),
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': `REJECTED#${day}` },
      ConsistentRead: true,
    }),
  );
  return out.Items ?? [];
}

describe('ingestMessage', () => {
  it('hands a valid event to each consumer that accepts its type', async () => {
    const seen: string[] = [];
    const consumer = (name: string, prefix: string): EventConsumer => ({
      name,
      accepts: (t) => t.startsWith(prefix),
      handle: async (e) => {
        seen.push(`${name}:${e.id}`);
      },
    });
    const out = await ingestMessage('m1', valid(), [consumer('a', 'task.'), consumer('b', 'workspace.')]);
    expect(out).toEqual({ outcome: 'dispatched', consumers: ['a'] });
    expect(seen).toEqual(['a:evt_1']);
  });

  it.each([
    ['not JSON', '{oops', /not valid JSON/],
    ['a bad type', valid({ type: 'Task Created' }), /type/],
    ['no workspace', valid({ workspace_id: undefined }), /workspace_id/],
    ['a bad time', valid({ occurred_at: 'yesterday' }), /occurred_at/],
  ])('records a rejection for %s and acknowledges it', async (_name, body, reason) => {
    const handle = vi.fn();
    const id = `m-${Math.random()}`;
    const out = await ingestMessage(id, body, [{ name: 'x', accepts: () => true, handle }]);
    expect(out.outcome).toBe('rejected');
    expect(handle).not.toHaveBeenCalled();
    const rec = (await rejectionsToday()).find((r) => r.message_id === id);
    expect(rec?.reason).toMatch(reason);
  });

  it('rejects events over WEBHOOK_MAX_PAYLOAD_SIZE_KB', async () => {
    setEnv({ WEBHOOK_MAX_PAYLOAD_SIZE_KB: '1' });
    try {
      const out = await ingestMessage('big', valid({ data: { blob: 'x'.repeat(2000) } }), []);
      expect(out).toMatchObject({ outcome: 'rejected', reason: expect.stringMatching(/limit/) });
      expect((await rejectionsToday()).some((r) => r.message_id === 'big')).toBe(true);
    } finally {
      setEnv({ WEBHOOK_MAX_PAYLOAD_SIZE_KB: undefined });
    }
  });
});

describe('ingestMessage with no consumer for the type', () => {
  it('records the event as rejected instead of dropping it', async () => {
    const out = await ingestMessage('m-nobody', valid({ type: 'galaxy.exploded' }), []);
    expect(out).toMatchObject({ outcome: 'rejected', reason: expect.stringMatching(/galaxy\.exploded/) });
    expect((await rejectionsToday()).find((r) => r.message_id === 'm-nobody')).toMatchObject({
      event_id: 'evt_1',
    });
  });

  it('files a retried rejection under the day the message was sent, once', async () => {
    const sent = new Date('2026-11-24T23:59:59Z');
    await ingestMessage('m-midnight', '{', [], sent);
    await ingestMessage('m-midnight', '{', [], sent);
    const out = await db().send(
      new QueryCommand({
        TableName: tableName(),
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': 'REJECTED#2026-11-24' },
        ConsistentRead: true,
      }),
    );
    expect((out.Items ?? []).filter((r) => r.message_id === 'm-midnight')).toHaveLength(1);
  });
});

describe('ingest worker', () => {
  it('reports only failing records as batch item failures', async () => {
    const event: SQSEvent = {
      Records: [
        sqsRecord({ messageId: 'ok-1', receiptHandle: 'r1', body: valid(), queueArn: 'arn:q' }),
        sqsRecord({ messageId: 'bad-1', receiptHandle: 'r2', body: '{', queueArn: 'arn:q' }),
      ],
    };
    const out = await handler(event, lambdaContext('ingest'));
    // Both are handled: the valid one dispatched, the invalid one recorded as rejected.
    expect(out.batchItemFailures).toEqual([]);
  });
});
