import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { WorkerDef } from '#functions/workers.ts';
import { runWithGrants } from '#shared/runtime-grants.ts';
import { loadHandler } from './http-server.ts';
import { lambdaContext, sqsEvent } from './lambda-event.ts';

export interface PollInput {
  sqs: SQSClient;
  worker: WorkerDef;
  queueUrl: string;
  signal: AbortSignal;
  onError?: (err: unknown) => void;
  /** Overrides the worker's handler module (tests). */
  handler?: (event: SQSEvent, context: unknown) => Promise<SQSBatchResponse | undefined>;
}

/** The pollers started per abort signal, by worker and queue (a declared concurrency starts once). */
const started = new WeakMap<AbortSignal, Map<string, Promise<void>>>();

/**
 * Plays Lambda's SQS event source mapping for one worker: long-polls the queue, invokes the
 * worker's handler with a real SQS batch, deletes what succeeded and leaves the
 * `batchItemFailures` (or the whole batch, if the handler throws) to reappear after the
 * visibility timeout and, past `maxReceiveCount`, move to the DLQ.
 *
 * A worker whose trigger declares `maxConcurrency` (functions/workers.ts, also the event source
 * mapping's maximum concurrency in AWS) gets exactly that many pollers, each one batch at a time:
 * the first call for the worker and queue under a signal starts them, and later calls (the local
 * stack's default of several per worker) join them instead of adding more. A worker without the
 * declaration gets one poller per call, as before.
 */
export function pollQueue(input: PollInput): Promise<void> {
  const { worker, queueUrl, signal } = input;
  if (!('queue' in worker.trigger)) throw new Error(`${worker.id} is not a queue worker`);
  const declared = worker.trigger.maxConcurrency;
  if (declared === undefined) return pollLoop(input);
  let bySignal = started.get(signal);
  if (!bySignal) {
    bySignal = new Map();
    started.set(signal, bySignal);
  }
  const key = `${worker.id}\n${queueUrl}`;
  const running = bySignal.get(key);
  if (running) return running;
  const all = Promise.all(Array.from({ length: declared }, () => pollLoop(input))).then(() => undefined);
  bySignal.set(key, all);
  return all;
}

/** One poller: one batch at a time until the signal aborts. */
function pollLoop(input: PollInput): Promise<void> {
  const { sqs, worker, queueUrl, signal } = input;
  if (!('queue' in worker.trigger)) throw new Error(`${worker.id} is not a queue worker`);
  const batchSize = worker.trigger.batchSize;
  return (async () => {
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
    );
    const queueArn = Attributes?.QueueArn ?? queueUrl;
    const handler =
      input.handler ??
      ((await loadHandler(worker.handler)) as unknown as (
        e: SQSEvent,
        c: unknown,
      ) => Promise<SQSBatchResponse | undefined>);
    while (!signal.aborted) {
      try {
        const out = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: batchSize,
            WaitTimeSeconds: 1,
            MessageSystemAttributeNames: ['All'],
            // As Lambda's event source mapping hands them over: the correlation ids ride here.
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: signal },
        );
        const messages = out.Messages ?? [];
        if (!messages.length) continue;
        const event = sqsEvent(messages, queueArn);
        let failed: Set<string>;
        try {
          const result = await runWithGrants(worker.grants, () =>
            handler(event, lambdaContext(worker.id, worker.timeoutSeconds * 1000)),
          );
          failed = new Set((result?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
        } catch (err) {
          input.onError?.(err);
          continue;
        }
        const done = messages.filter((m) => m.MessageId && !failed.has(m.MessageId));
        if (done.length) {
          await sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
            }),
          );
        }
      } catch (err) {
        if (signal.aborted) break;
        input.onError?.(err);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  })();
}

/** Runs a scheduled worker every `rate(N minutes|hours)` until aborted. */
export function runSchedule(worker: WorkerDef, signal: AbortSignal, onError?: (err: unknown) => void): void {
  if (!('schedule' in worker.trigger)) return;
  const m = /^rate\((\d+) (minute|minutes|hour|hours)\)$/.exec(worker.trigger.schedule);
  if (!m) throw new Error(`Unsupported schedule for local runs: ${worker.trigger.schedule}`);
  const ms = Number(m[1]) * (m[2]?.startsWith('hour') ? 3_600_000 : 60_000);
  const timer = setInterval(async () => {
    try {
      const handler = (await loadHandler(worker.handler)) as unknown as (
        e: unknown,
        c: unknown,
      ) => Promise<unknown>;
      await runWithGrants(worker.grants, () =>
        handler({ source: 'local.schedule', time: new Date().toISOString() }, lambdaContext(worker.id)),
      );
    } catch (err) {
      onError?.(err);
    }
  }, ms);
  signal.addEventListener('abort', () => clearInterval(timer));
}

/**
 * Runs an `afterDeploy` worker once, as the CDK trigger does after a deployment: awaited, with the
 * worker's grants; a failure stops the start (a failed trigger rolls a deployment back).
 */
export async function runAfterDeploy(worker: WorkerDef): Promise<void> {
  if (!('afterDeploy' in worker.trigger)) return;
  const handler = (await loadHandler(worker.handler)) as unknown as (
    e: unknown,
    c: unknown,
  ) => Promise<unknown>;
  await runWithGrants(worker.grants, () =>
    handler({ source: 'local.after-deploy' }, lambdaContext(worker.id, worker.timeoutSeconds * 1000)),
  );
}
