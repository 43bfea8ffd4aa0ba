import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, it } from 'vitest';
import { queues, visibilityTimeoutSeconds } from '#functions/workers.ts';
import { type LocalSqs, startSqs } from '#infra/local/sqs.ts';

/** The local SQS emulator keeps its queues in a data folder, so a restart loses no message. */
const root = mkdtempSync(join(tmpdir(), 'pf-sqs-'));
const running: LocalSqs[] = [];
afterAll(async () => {
  for (const s of running) await s.stop().catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
});

const clientFor = (s: LocalSqs) =>
  new SQSClient({
    endpoint: s.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });

async function start(dataDir?: string) {
  const s = await startSqs({ prefix: 'persist', dataDir });
  running.push(s);
  return s;
}

async function stop(s: LocalSqs) {
  await s.stop();
  running.splice(running.indexOf(s), 1);
}

/** Receives from `url` until a message comes or `ms` pass. */
async function receive(client: SQSClient, url: string, ms: number): Promise<Message | undefined> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const out = await client.send(
      new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 1, MessageSystemAttributeNames: ['All'] }),
    );
    if (out.Messages?.[0]) return out.Messages[0];
  }
  return undefined;
}

describe('local SQS emulator with a data folder', () => {
  it('keeps a delayed message across a restart, and delivers it when due', async () => {
    const dataDir = join(root, 'delayed');
    const first = await start(dataDir);
    const c1 = clientFor(first);
    await c1.send(
      new SendMessageCommand({
        QueueUrl: first.urls.deliveries,
        MessageBody: 'retry later',
        DelaySeconds: 3,
      }),
    );
    c1.destroy();
    await stop(first);

    const second = await start(dataDir);
    const c2 = clientFor(second);
    try {
      // Same queues, at the new port, with their redrive policy and visibility timeout.
      expect(second.endpoint).not.toBe(first.endpoint);
      expect(new URL(second.urls.deliveries).port).toBe(new URL(second.endpoint).port);
      expect(second.urls.deliveries.replace(/:\d+\//, '/')).toBe(
        first.urls.deliveries.replace(/:\d+\//, '/'),
      );
      const { Attributes = {} } = await c2.send(
        new GetQueueAttributesCommand({ QueueUrl: second.urls.deliveries, AttributeNames: ['All'] }),
      );
      expect(Attributes.VisibilityTimeout).toBe(String(visibilityTimeoutSeconds('deliveries')));
      expect(JSON.parse(Attributes.RedrivePolicy ?? '{}')).toMatchObject({
        maxReceiveCount: queues.deliveries.maxReceiveCount,
      });
      expect(Attributes.ApproximateNumberOfMessagesDelayed).toBe('1');
      const m = await receive(c2, second.urls.deliveries, 10_000);
      expect(m?.Body).toBe('retry later');
    } finally {
      c2.destroy();
    }
  });

  it('hands out again at once a message the previous run had received but not finished', async () => {
    const dataDir = join(root, 'inflight');
    const first = await start(dataDir);
    const c1 = clientFor(first);
    await c1.send(new SendMessageCommand({ QueueUrl: first.urls.deliveries, MessageBody: 'half done' }));
    expect((await receive(c1, first.urls.deliveries, 5_000))?.Body).toBe('half done');
    c1.destroy();
    await stop(first); // the worker never deleted it: in flight for the visibility timeout (6 min)

    const second = await start(dataDir);
    const c2 = clientFor(second);
    try {
      const m = await receive(c2, second.urls.deliveries, 5_000);
      expect(m?.Body).toBe('half done');
      expect(m?.Attributes?.ApproximateReceiveCount).toBe('2');
    } finally {
      c2.destroy();
    }
  });

  it('keeps everything in memory without a data folder', async () => {
    const first = await start();
    const c1 = clientFor(first);
    await c1.send(new SendMessageCommand({ QueueUrl: first.urls.deliveries, MessageBody: 'gone' }));
    c1.destroy();
    await stop(first);
    const second = await start();
    const c2 = clientFor(second);
    try {
      expect(await receive(c2, second.urls.deliveries, 1_500)).toBeUndefined();
    } finally {
      c2.destroy();
    }
  });
});
