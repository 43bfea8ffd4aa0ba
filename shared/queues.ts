import { SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { QueueDef } from '#functions/workers.ts';
import { config } from '#shared/config.ts';

let client: SQSClient | undefined;

/** The process-wide SQS client, created on first use (the local runtime sets SQS_ENDPOINT first). */
export function sqs(): SQSClient {
  if (!client) {
    const endpoint = config().SQS_ENDPOINT;
    client = new SQSClient(
      endpoint
        ? {
            endpoint,
            region: process.env.AWS_REGION ?? 'us-east-1',
            credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
          }
        : {},
    );
  }
  return client;
}

export function resetSqs(): void {
  client = undefined;
}

/** The URL of a queue from its environment variable; fails loudly when it is not set. */
export function queueUrl(urlEnv: QueueDef['urlEnv']): string {
  const url = config()[urlEnv];
  if (!url) throw new Error(`${urlEnv} is not set`);
  return url;
}

/** SQS caps DelaySeconds at 15 minutes. */
export const MAX_DELAY_SECONDS = 900;

/** Sends one JSON message, optionally delayed (clamped to the SQS maximum). */
export async function sendJson(urlEnv: QueueDef['urlEnv'], body: unknown, delaySeconds = 0): Promise<void> {
  await sqs().send(
    new SendMessageCommand({
      QueueUrl: queueUrl(urlEnv),
      MessageBody: JSON.stringify(body),
      DelaySeconds: Math.min(Math.max(0, Math.ceil(delaySeconds)), MAX_DELAY_SECONDS),
    }),
  );
}

/** Sends many JSON messages in batches of ten; throws if any entry failed. */
export async function sendJsonBatch(urlEnv: QueueDef['urlEnv'], bodies: unknown[]): Promise<void> {
  for (let i = 0; i < bodies.length; i += 10) {
    const chunk = bodies.slice(i, i + 10);
    const out = await sqs().send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl(urlEnv),
        Entries: chunk.map((b, j) => ({ Id: String(j), MessageBody: JSON.stringify(b) })),
      }),
    );
    if (out.Failed?.length) throw new Error(`${out.Failed.length} messages were not accepted by SQS`);
  }
}
