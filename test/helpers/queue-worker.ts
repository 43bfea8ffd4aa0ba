import { DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { sqs } from '#shared/queues.ts';

/** An SQS event of `messages`, as Lambda hands a batch to a queue worker. */
export function sqsEventOf(
  messages: { MessageId?: string; ReceiptHandle?: string; Body?: string }[],
  queue: string,
): SQSEvent {
  return {
    Records: messages.map(
      (m) =>
        ({
          messageId: m.MessageId as string,
          receiptHandle: m.ReceiptHandle as string,
          body: m.Body as string,
          attributes: {},
          messageAttributes: {},
          md5OfBody: '',
          eventSource: 'aws:sqs',
          eventSourceARN: `arn:aws:sqs:us-east-1:000000000000:${queue}`,
          awsRegion: 'us-east-1',
        }) as unknown as SQSRecord,
    ),
  };
}

/** Messages of the queue sent with a delay that has not passed yet (a job's `delaySeconds`). */
async function delayed(url: string): Promise<number> {
  const { Attributes = {} } = await sqs().send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessagesDelayed'] }),
  );
  return Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0);
}

/**
 * Runs a queue worker over the queue at `url` (real SQS batches of `batchSize`) until it reads
 * empty (with `waitForDelayed`, also with nothing delayed); each job may queue more. Throws on a
 * batch item failure, or after `max` batches.
 */
export async function drainQueue(
  url: string,
  worker: (event: SQSEvent, context: never) => Promise<SQSBatchResponse>,
  opts: { batchSize?: number; max?: number; name?: string; waitForDelayed?: boolean } = {},
): Promise<number> {
  let ran = 0;
  for (let round = 0; round < (opts.max ?? 500); round++) {
    const out = await sqs().send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: opts.batchSize ?? 10,
        WaitTimeSeconds: 0,
      }),
    );
    const messages = out.Messages ?? [];
    if (!messages.length) {
      if (!opts.waitForDelayed || !(await delayed(url))) return ran;
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    const res = await worker(sqsEventOf(messages, opts.name ?? 'queue'), {} as never);
    if (res.batchItemFailures.length)
      throw new Error(`${opts.name ?? 'queue'} jobs failed: ${JSON.stringify(res)}`);
    for (const m of messages) {
      await sqs().send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle as string }));
    }
    ran += messages.length;
  }
  throw new Error(`${opts.name ?? 'queue'} did not settle`);
}
