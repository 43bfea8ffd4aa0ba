/**
 * The whole-batch worker kit as the usage worker (functions/workers/record-usage.ts) runs on it:
 * its partial-batch answer unchanged (the messages not written, or the whole batch when it
 * throws), and the kit's platform work around it: succeeded / failed / retried record counts by
 * worker, flushed at the end, and the Lambda context and worker on its log lines.
 */
import { BatchWriteCommand, DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { handler } from '#functions/workers/record-usage.ts';
import { lambdaContext, sqsRecord } from '#infra/local/lambda-event.ts';
import { logger } from '#shared/logger.ts';
import { useCapturedOutput } from '#test/helpers/captured-output.ts';
import { setEnv } from '#test/helpers/env.ts';

const ddb = mockClient(DynamoDBDocumentClient);
afterAll(() => ddb.restore());

const { json } = useCapturedOutput();
beforeEach(() => {
  ddb.reset();
  setEnv({ TABLE_NAME: 'obs-usage' });
  logger.setLogLevel('INFO');
});
afterEach(() => {
  logger.setLogLevel('SILENT');
});

const usage = (n: number, tokenId: string, receiveCount = '1') =>
  sqsRecord({
    messageId: `m${n}`,
    receiptHandle: 'r',
    queueArn: 'arn:aws:sqs:us-east-1:000000000000:usage',
    attributes: { ApproximateReceiveCount: receiveCount },
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

describe('whole-batch worker kit (record-usage)', () => {
  it('keeps the partial-batch answer and counts succeeded, failed and retried records by worker', async () => {
    ddb.on(BatchWriteCommand).resolves({});
    ddb
      .on(UpdateCommand, { ExpressionAttributeValues: { ':at': '2026-05-01T10:00:02.000Z', ':ip': null } })
      .rejects(new Error('throttled'));
    ddb
      .on(UpdateCommand, { ExpressionAttributeValues: { ':at': '2026-05-01T10:00:03.000Z', ':ip': null } })
      .resolves({});
    const event: SQSEvent = { Records: [usage(1, 'tok_a'), usage(2, 'tok_a', '2'), usage(3, 'tok_b')] };
    const res = await handler(event, lambdaContext('recordUsage'));
    expect(res.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['m1', 'm2']);
    const emf = json().filter((l) => '_aws' in l);
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({
      worker: 'record-usage',
      QueueRecordsSucceeded: 1,
      QueueRecordsFailed: 2,
      QueueRecordRetries: 1,
    });
  });

  it('a batch that throws fails every record, logged with the Lambda context', async () => {
    ddb.on(BatchWriteCommand).rejects(new Error('table gone'));
    const event: SQSEvent = { Records: [usage(1, 'tok_a'), usage(2, 'tok_b')] };
    const res = await handler(event, lambdaContext('recordUsage'));
    expect(res.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['m1', 'm2']);
    const logged = json().find((l) => l.message === 'batch failed');
    expect(logged).toMatchObject({ worker: 'record-usage', function_name: 'recordUsage' });
    expect(typeof logged?.correlation_id).toBe('string');
    expect(json().find((l) => '_aws' in l)).toMatchObject({ QueueRecordsFailed: 2, worker: 'record-usage' });
  });
});
