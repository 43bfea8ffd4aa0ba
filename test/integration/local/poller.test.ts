import {
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkerDef } from '#functions/workers.ts';
import { pollQueue } from '#infra/local/poller.ts';
import { type LocalSqs, startSqs } from '#infra/local/sqs.ts';

let sqs: LocalSqs;
let client: SQSClient;
beforeAll(async () => {
  sqs = await startSqs({ prefix: 'poller' });
  client = new SQSClient({
    endpoint: sqs.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
});
afterAll(async () => {
  client.destroy();
  await sqs.stop();
});

const worker: WorkerDef = {
  id: 'test',
  handler: 'unused',
  description: 'test',
  trigger: { queue: 'sync', batchSize: 10 },
  timeoutSeconds: 5,
  grants: [],
};

async function until(check: () => boolean, ms = 10_000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('local queue poller', () => {
  it('invokes the worker with SQS batches and deletes only what succeeded', async () => {
    const seen: string[] = [];
    const abort = new AbortController();
    const handler = async (event: SQSEvent): Promise<SQSBatchResponse> => {
      seen.push(...event.Records.map((r) => r.body));
      expect(event.Records[0]?.eventSource).toBe('aws:sqs');
      return {
        batchItemFailures: event.Records.filter((r) => r.body === 'fail').map((r) => ({
          itemIdentifier: r.messageId,
        })),
      };
    };
    const run = pollQueue({ sqs: client, worker, queueUrl: sqs.urls.sync, signal: abort.signal, handler });
    for (const body of ['a', 'b', 'fail'])
      await client.send(new SendMessageCommand({ QueueUrl: sqs.urls.sync, MessageBody: body }));
    await until(() => ['a', 'b', 'fail'].every((b) => seen.includes(b)));
    abort.abort();
    await run;
    // Only the failed record is left: in flight until its visibility timeout, then back.
    const attrs = await client.send(
      new GetQueueAttributesCommand({
        QueueUrl: sqs.urls.sync,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    expect(Number(attrs.Attributes?.ApproximateNumberOfMessages)).toBe(0);
    expect(Number(attrs.Attributes?.ApproximateNumberOfMessagesNotVisible)).toBe(1);
  });

  it('moves a message that keeps failing to the DLQ after maxReceiveCount receives', async () => {
    const abort = new AbortController();
    let calls = 0;
    const handler = async (event: SQSEvent): Promise<SQSBatchResponse> => {
      calls += event.Records.length;
      return { batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })) };
    };
    const deliveries = sqs.urls.deliveries;
    // A zero visibility timeout makes each failed receive visible again at once.
    await client.send(
      new SetQueueAttributesCommand({ QueueUrl: deliveries, Attributes: { VisibilityTimeout: '0' } }),
    );
    await client.send(new SendMessageCommand({ QueueUrl: deliveries, MessageBody: 'poison' }));
    const one: WorkerDef = { ...worker, trigger: { queue: 'deliveries', batchSize: 1 } };
    const run = pollQueue({ sqs: client, worker: one, queueUrl: deliveries, signal: abort.signal, handler });
    await until(() => calls >= 5, 15_000);
    const out = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: sqs.dlqUrls.deliveries,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 2,
      }),
    );
    abort.abort();
    await run;
    const dlq = (out.Messages ?? []).map((m) => m.Body ?? '');
    expect(dlq).toEqual(['poison']);
    expect(calls).toBe(5);
  });

  it("runs exactly the worker's declared maxConcurrency of batches at once, however often it is started", async () => {
    const abort = new AbortController();
    let inFlight = 0;
    let most = 0;
    const seen: string[] = [];
    const handler = async (event: SQSEvent): Promise<SQSBatchResponse> => {
      inFlight++;
      most = Math.max(most, inFlight);
      // Long enough for every poller to pick a batch while this one is held.
      await new Promise((r) => setTimeout(r, 300));
      seen.push(...event.Records.map((r) => r.body));
      inFlight--;
      return { batchItemFailures: [] };
    };
    const declared: WorkerDef = { ...worker, trigger: { queue: 'plugins', batchSize: 1, maxConcurrency: 3 } };
    const bodies = Array.from({ length: 12 }, (_, i) => `m${i}`);
    for (const body of bodies)
      await client.send(new SendMessageCommand({ QueueUrl: sqs.urls.plugins, MessageBody: body }));
    // The local stack starts several pollers per worker: the declaration wins.
    const runs = Array.from({ length: 5 }, () =>
      pollQueue({ sqs: client, worker: declared, queueUrl: sqs.urls.plugins, signal: abort.signal, handler }),
    );
    await until(() => bodies.every((b) => seen.includes(b)));
    abort.abort();
    await Promise.all(runs);
    expect(most).toBe(3);
  });

  it('runs one batch per start for a worker without a declared concurrency', async () => {
    const abort = new AbortController();
    let inFlight = 0;
    let most = 0;
    const seen: string[] = [];
    const handler = async (event: SQSEvent): Promise<SQSBatchResponse> => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 300));
      seen.push(...event.Records.map((r) => r.body));
      inFlight--;
      return { batchItemFailures: [] };
    };
    const plain: WorkerDef = { ...worker, trigger: { queue: 'lifecycle', batchSize: 1 } };
    const bodies = Array.from({ length: 8 }, (_, i) => `p${i}`);
    for (const body of bodies)
      await client.send(new SendMessageCommand({ QueueUrl: sqs.urls.lifecycle, MessageBody: body }));
    const runs = Array.from({ length: 2 }, () =>
      pollQueue({ sqs: client, worker: plain, queueUrl: sqs.urls.lifecycle, signal: abort.signal, handler }),
    );
    await until(() => bodies.every((b) => seen.includes(b)));
    abort.abort();
    await Promise.all(runs);
    expect(most).toBe(2);
  });
});
