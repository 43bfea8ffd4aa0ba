import { mkdirSync } from 'node:fs';
import {
  ChangeMessageVisibilityBatchCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import { workers } from '#functions/features.ts';
import { visibilityTimeoutSeconds } from '#functions/workers.ts';
import { dlqUrlsSetting, type QueueDef, type QueueId, queues } from '#shared/queue-catalog.ts';

export interface LocalSqs {
  endpoint: string;
  /** Queue URL by queue id, and the matching DLQ URLs. */
  urls: Record<QueueId, string>;
  dlqUrls: Record<QueueId, string>;
  /** Environment variables functions read queue URLs from (as the CDK stack sets them). */
  env: Record<QueueDef['urlEnv'] | 'DELIVERY_DLQ_URL' | 'DLQ_URLS', string>;
  stop: () => Promise<void>;
}

/**
 * Starts the in-process SQS emulator and creates every queue of `shared/queue-catalog.ts` with its
 * DLQ and the same redrive policy as in AWS. `prefix` keeps parallel test runs apart. With
 * `dataDir` the queues and their messages (ready, delayed and in flight, with their timers) are
 * kept in SQLite there, written through on every change, so a restart — even after a SIGKILL —
 * resumes where it stopped: a webhook retry waiting in a delayed message still comes.
 */
export async function startSqs(opts: { prefix?: string; dataDir?: string } = {}): Promise<LocalSqs> {
  if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true });
  const server = await startFauxqs({ port: 0, logger: false, dataDir: opts.dataDir });
  const endpoint = `http://127.0.0.1:${server.port}`;
  const client = new SQSClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    const prefix = opts.prefix ?? 'pronaflow-integrations';
    const urls = {} as Record<QueueId, string>;
    const dlqUrls = {} as Record<QueueId, string>;
    const env = {} as LocalSqs['env'];
    for (const q of Object.values(queues)) {
      const dlq = await ensureQueue(server, client, `${prefix}-${q.id}-dlq`, {
        MessageRetentionPeriod: String(q.dlqRetentionDays * 86400),
      });
      const main = await ensureQueue(server, client, `${prefix}-${q.id}`, {
        VisibilityTimeout: String(visibilityTimeoutSeconds(q.id, workers)),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: dlq.queueArn,
          maxReceiveCount: q.maxReceiveCount,
        }),
      });
      urls[q.id] = main.queueUrl;
      dlqUrls[q.id] = dlq.queueUrl;
      env[q.urlEnv] = main.queueUrl;
    }
    env.DELIVERY_DLQ_URL = dlqUrls.deliveries;
    env.DLQ_URLS = dlqUrlsSetting(dlqUrls);
    return { endpoint, urls, dlqUrls, env, stop: () => server.stop() };
  } catch (err) {
    await server.stop();
    throw err;
  } finally {
    client.destroy();
  }
}

/**
 * Creates a queue, or (restored from `dataDir`) keeps it with its messages and brings its
 * attributes up to date. The emulator's own `createQueue` would replace it, messages and all.
 */
async function ensureQueue(
  server: FauxqsServer,
  client: SQSClient,
  name: string,
  attributes: Record<string, string>,
): Promise<{ queueUrl: string; queueArn: string }> {
  const existing = server.inspectQueue(name);
  if (!existing) return server.createQueue(name, { attributes });
  // Its stored URL names the port of the run that created it; the emulator finds queues by name.
  const url = new URL(existing.url);
  url.port = String(server.port);
  const queueUrl = url.toString();
  await client.send(new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: attributes }));
  // Messages in flight were received by the previous run's pollers, which are gone (killed hard,
  // or stopped mid-batch): hand them out again in a second rather than after their visibility
  // timeout (6 minutes for deliveries). The workers are idempotent, as for any redelivery.
  // Not 0: fauxqs 2.4.1 with a data folder fails a change to 0 (a NOT NULL column) and loses the
  // message from memory.
  const inflight = existing.messages.inflight;
  for (let i = 0; i < inflight.length; i += 10) {
    await client.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queueUrl,
        Entries: inflight
          .slice(i, i + 10)
          .map((m, j) => ({ Id: String(j), ReceiptHandle: m.receiptHandle, VisibilityTimeout: 1 })),
      }),
    );
  }
  return { queueUrl, queueArn: existing.arn };
}
