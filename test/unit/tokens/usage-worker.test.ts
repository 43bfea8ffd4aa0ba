import { BatchWriteCommand, DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { handler } from '#functions/workers/record-usage.ts';
import { setEnv } from '#test/helpers/env.ts';

const ddb = mockClient(DynamoDBDocumentClient);
afterAll(() => ddb.restore());
beforeEach(() => {
  ddb.reset();
  setEnv({ TABLE_NAME: 'unit-usage' });
});

const message = (n: number, tokenId = 'tok_a') => ({
  messageId: `m${n}`,
  receiptHandle: 'r',
  body: JSON.stringify({
    id: `req-${n}`,
    token_id: tokenId,
    user_id: 'u1',
    workspace_id: 'ws1',
    method: 'GET',
    route: '/rate-limit',
    status: 200,
    latency_ms: 3,
    at: `2026-05-01T10:00:0${n}.000Z`,
    client_ip: null,
  }),
});
const run = (records: ReturnType<typeof message>[]) => handler({ Records: records } as never);

describe('record-usage worker', () => {
  it('writes up to 25 logs per BatchWriteItem and one last-used update per token', async () => {
    ddb.on(BatchWriteCommand).resolves({});
    ddb.on(UpdateCommand).resolves({});
    const res = await run([message(1), message(2), message(3, 'tok_b')]);
    expect(res.batchItemFailures).toEqual([]);
    expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(1);
    expect(ddb.commandCalls(BatchWriteCommand)[0]?.args[0].input.RequestItems?.['unit-usage']).toHaveLength(
      3,
    );
    const updates = ddb
      .commandCalls(UpdateCommand)
      .map((c) => c.args[0].input.ExpressionAttributeValues?.[':at']);
    expect(updates.sort()).toEqual(['2026-05-01T10:00:02.000Z', '2026-05-01T10:00:03.000Z']);
  });

  it('retries unprocessed items and reports the messages still unwritten as failures', async () => {
    ddb.on(BatchWriteCommand).callsFake((input) => ({ UnprocessedItems: input.RequestItems }));
    ddb.on(UpdateCommand).resolves({});
    const res = await run([message(1), message(2)]);
    expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(5);
    expect(res.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['m1', 'm2']);
  });

  it('fails the messages of a token whose last-used update errs, and only those', async () => {
    ddb.on(BatchWriteCommand).resolves({});
    ddb
      .on(UpdateCommand, { ExpressionAttributeValues: { ':at': '2026-05-01T10:00:02.000Z', ':ip': null } })
      .rejects(new Error('throttled'));
    ddb
      .on(UpdateCommand, { ExpressionAttributeValues: { ':at': '2026-05-01T10:00:03.000Z', ':ip': null } })
      .resolves({});
    const res = await run([message(1), message(2), message(3, 'tok_b')]);
    expect(res.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['m1', 'm2']);
  });
});
