/**
 * Test harness for the webhook pipeline: a real HTTP receiver on 127.0.0.1 that verifies each
 * request with the `standardwebhooks` package, and a pump that plays Lambda's SQS event source
 * for the ingest and deliveries queues with controlled time and injectable crashes.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { Webhook } from 'standardwebhooks';
import * as v from 'valibot';
import { handler as ingestHandler } from '#functions/workers/ingest-events.ts';
import { lambdaContext, sqsEvent } from '#infra/local/lambda-event.ts';
import type { LocalSqs } from '#infra/local/sqs.ts';
import { queueWorker } from '#shared/queue-worker.ts';
import { sqs } from '#shared/queues.ts';
import { withDeliveryBatch } from '#shared/webhooks/delivery-store.ts';
import { deliveryQueueJob } from '#shared/webhooks/jobs.ts';
import { defaultDeps, processJob, type WorkerDeps } from '#shared/webhooks/worker.ts';

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** What `Webhook.verify` of the standardwebhooks package said, with the path's secret. */
  verified: boolean;
}

export type Behaviour = (n: number) => { status: number; headers?: Record<string, string>; delayMs?: number };

export interface Receiver {
  url: (path: string) => string;
  received: Received[];
  /** Sets how a path answers (n = how many requests it got before) and the secret to verify with. */
  on: (path: string, behaviour: Behaviour, secret?: string) => void;
  setSecret: (path: string, secret: string) => void;
  /** The test clock, when time is controlled. */
  clock?: Clock;
  close: () => Promise<void>;
  port: number;
}

export async function startReceiver(): Promise<Receiver> {
  const behaviours = new Map<string, Behaviour>();
  const secrets = new Map<string, string>();
  const counts = new Map<string, number>();
  const received: Received[] = [];
  let self: Receiver;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const body = Buffer.concat(chunks).toString('utf8');
      const secret = secrets.get(path);
      let verified = false;
      if (secret) {
        // The verifier checks the timestamp against Date.now(); in controlled time "now" is the test clock.
        const realNow = Date.now;
        const clock = self.clock;
        if (clock) Date.now = () => clock.t;
        try {
          new Webhook(secret).verify(body, req.headers as Record<string, string>);
          verified = true;
        } catch {
          verified = false;
        } finally {
          Date.now = realNow;
        }
      }
      received.push({ path, headers: req.headers, body, verified });
      const n = counts.get(path) ?? 0;
      counts.set(path, n + 1);
      const fallback: Behaviour = () => ({ status: 200 });
      const answer = (behaviours.get(path) ?? fallback)(n);
      const reply = () => {
        if (res.destroyed) return;
        res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
        res.end(`answer ${answer.status}`);
      };
      if (answer.delayMs) setTimeout(reply, answer.delayMs);
      else reply();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  self = {
    port,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    received,
    on: (path, behaviour, secret) => {
      behaviours.set(path, behaviour);
      if (secret) secrets.set(path, secret);
    },
    setSecret: (path, secret) => secrets.set(path, secret),
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  return self;
}

/** A clock the worker reads; the pump moves it forward to each job's `not_before`. */
export class Clock {
  constructor(public t: number) {}
  now = () => new Date(this.t);
  advanceTo(ms: number) {
    if (ms > this.t) this.t = ms;
  }
}

export interface PumpOptions {
  local: LocalSqs;
  clock: Clock;
  deps?: Partial<WorkerDeps>;
  /** Called per delivery batch; returning true makes that invocation "crash" (no message deleted). */
  crashBatch?: (batchNo: number) => boolean;
  /** Stops after this many rounds (guard against loops). */
  maxRounds?: number;
}

type Handler = (e: SQSEvent, c: unknown) => Promise<SQSBatchResponse>;

async function runBatch(
  queueUrl: string,
  handler: Handler,
  crash: boolean,
): Promise<{ messages: Message[]; failed: number }> {
  const out = await sqs().send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 0,
      MessageSystemAttributeNames: ['All'],
    }),
  );
  const messages = out.Messages ?? [];
  if (!messages.length) return { messages, failed: 0 };
  const event = sqsEvent(messages, queueUrl);
  let failedIds = new Set<string>();
  try {
    const res = await handler(event, lambdaContext('pump'));
    failedIds = new Set((res?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
  } catch {
    crash = true;
  }
  const done = crash ? [] : messages.filter((m) => !failedIds.has(m.MessageId ?? ''));
  const again = crash ? messages : messages.filter((m) => failedIds.has(m.MessageId ?? ''));
  if (done.length) {
    await sqs().send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
      }),
    );
  }
  if (again.length) {
    // What the visibility timeout does in AWS, without the wait.
    await sqs().send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queueUrl,
        Entries: again.map((m, i) => ({
          Id: String(i),
          ReceiptHandle: m.ReceiptHandle ?? '',
          VisibilityTimeout: 0,
        })),
      }),
    );
  }
  return { messages, failed: again.length };
}

/** Messages a queue still holds: visible, received and not yet deleted (in flight), or delayed. */
async function outstanding(queueUrl: string): Promise<number> {
  const { Attributes = {} } = await sqs().send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return (
    Number(Attributes.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0) +
    Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0)
  );
}

/**
 * Runs the ingest and delivery workers over the emulator's queues until both are drained: a
 * round received nothing and the emulator holds no message in either queue, in flight or
 * delayed (the pump is their only consumer, and the emulator's counts are exact). Before each
 * delivery batch the clock jumps to the earliest `not_before` still ahead, so retry schedules
 * play out in controlled time. Returns the outcomes the delivery jobs reported; throws when the
 * queues are not drained after `maxRounds` rounds rather than leaving work behind unnoticed.
 */
export async function pump(opts: PumpOptions): Promise<{ outcomes: string[]; crashes: number }> {
  const { deliverOnTime, outcomes } = deliveryHandler(opts);
  const { ingest: ingestUrl, deliveries: deliveriesUrl } = opts.local.urls;
  let crashes = 0;
  let batchNo = 0;
  const maxRounds = opts.maxRounds ?? 500;
  for (let round = 0; round < maxRounds; round++) {
    const ingest = await runBatch(ingestUrl, ingestHandler as unknown as Handler, false);
    const crash = opts.crashBatch?.(batchNo) ?? false;
    const delivery = await runBatch(deliveriesUrl, deliverOnTime, crash);
    if (delivery.messages.length) {
      batchNo++;
      if (crash) crashes++;
    }
    if (ingest.messages.length + delivery.messages.length > 0) continue;
    const left = (await outstanding(ingestUrl)) + (await outstanding(deliveriesUrl));
    if (left === 0) return { outcomes, crashes };
    // Something is held back (delayed, or in flight for another consumer): look again shortly.
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`pump: the queues were not drained after ${maxRounds} rounds`);
}

/**
 * Runs the ingest and delivery workers in the background, as Lambda's event sources do while an
 * operator works on the queues, until `stop()` (which resolves once the current round is done).
 */
export function pumpInBackground(opts: PumpOptions): { stop: () => Promise<{ outcomes: string[] }> } {
  const { deliverOnTime, outcomes } = deliveryHandler(opts);
  const { ingest: ingestUrl, deliveries: deliveriesUrl } = opts.local.urls;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const ingest = await runBatch(ingestUrl, ingestHandler as unknown as Handler, false);
      const delivery = await runBatch(deliveriesUrl, deliverOnTime, false);
      if (!ingest.messages.length && !delivery.messages.length) await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return { outcomes };
    },
  };
}

function deliveryHandler(opts: PumpOptions): { deliverOnTime: Handler; outcomes: string[] } {
  const deps: WorkerDeps = {
    ...defaultDeps(),
    now: opts.clock.now,
    random: () => 0.5,
    maxSqsDelaySeconds: 0,
    ...opts.deps,
  };
  const outcomes: string[] = [];
  const deliver = queueWorker('deliver-test', async (record) => {
    const outcome = await processJob(
      v.parse(deliveryQueueJob, JSON.parse(record.body)),
      Number(record.attributes.ApproximateReceiveCount ?? '1'),
      deps,
    );
    outcomes.push(outcome);
    return outcome;
  }) as unknown as Handler;
  const deliverOnTime: Handler = (event, ctx) => {
    const due = event.Records.map((r) => (JSON.parse(r.body) as { not_before?: string }).not_before)
      .filter((t): t is string => !!t)
      .map((t) => Date.parse(t));
    if (due.length) opts.clock.advanceTo(Math.min(...due));
    // As the deployed handler (functions/workers/deliver-webhooks.ts): markers deleted per batch.
    return withDeliveryBatch(() => deliver(event, ctx));
  };
  return { deliverOnTime, outcomes };
}
