import { startFauxqs } from 'fauxqs';
import { type QueueDef, type QueueId, queues, visibilityTimeoutSeconds } from '#functions/workers.ts';

export interface LocalSqs {
  endpoint: string;
  /** Queue URL by queue id, and the matching DLQ URLs. */
  urls: Record<QueueId, string>;
  dlqUrls: Record<QueueId, string>;
  /** Environment variables functions read queue URLs from (as the CDK stack sets them). */
  env: Record<QueueDef['urlEnv'] | 'DELIVERY_DLQ_URL', string>;
  stop: () => Promise<void>;
}

/**
 * Starts the in-process SQS emulator and creates every queue of `functions/workers.ts` with its
 * DLQ and the same redrive policy as in AWS. `prefix` keeps parallel test runs apart.
 */
export async function startSqs(opts: { prefix?: string } = {}): Promise<LocalSqs> {
  const server = await startFauxqs({ port: 0, logger: false });
  const endpoint = `http://127.0.0.1:${server.port}`;
  const prefix = opts.prefix ?? 'pronaflow-integrations';
  const urls = {} as Record<QueueId, string>;
  const dlqUrls = {} as Record<QueueId, string>;
  const env = {} as LocalSqs['env'];
  for (const q of Object.values(queues)) {
    const dlq = server.createQueue(`${prefix}-${q.id}-dlq`, {
      attributes: { MessageRetentionPeriod: String(q.dlqRetentionDays * 86400) },
    });
    const main = server.createQueue(`${prefix}-${q.id}`, {
      attributes: {
        VisibilityTimeout: String(visibilityTimeoutSeconds(q.id)),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: dlq.queueArn,
          maxReceiveCount: q.maxReceiveCount,
        }),
      },
    });
    urls[q.id] = main.queueUrl;
    dlqUrls[q.id] = dlq.queueUrl;
    env[q.urlEnv] = main.queueUrl;
  }
  env.DELIVERY_DLQ_URL = dlqUrls.deliveries;
  return { endpoint, urls, dlqUrls, env, stop: () => server.stop() };
}
