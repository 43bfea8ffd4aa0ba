import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

/**
 * Moves every message of the deliveries DLQ back to the delivery queue, batch by batch: a
 * message is deleted from the DLQ only after the delivery queue accepted it. Safe to run twice
 * or to interrupt: the worker is idempotent on delivery id + state (a `dead` job restarts its
 * FAILED delivery once; a `deliver` job for an attempt already made is dropped), so copies
 * never create a second delivery or a second POST of a delivered one.
 */
export async function redriveDeliveries(input: {
  client: SQSClient;
  dlqUrl: string;
  queueUrl: string;
  /** Stop after this many messages (default: until the DLQ reads empty). */
  max?: number;
}): Promise<{ moved: number }> {
  const { client, dlqUrl, queueUrl } = input;
  let moved = 0;
  for (;;) {
    if (input.max !== undefined && moved >= input.max) break;
    const out = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: dlqUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        VisibilityTimeout: 60,
      }),
    );
    const messages = out.Messages ?? [];
    if (!messages.length) break;
    const sent = await client.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.map((m, i) => ({ Id: String(i), MessageBody: m.Body ?? '' })),
      }),
    );
    const ok = new Set((sent.Successful ?? []).map((s) => s.Id));
    const done = messages.filter((_, i) => ok.has(String(i)));
    if (done.length) {
      await client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: dlqUrl,
          Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
        }),
      );
    }
    moved += done.length;
    if (done.length < messages.length)
      throw new Error(`${messages.length - done.length} messages were not accepted; run again`);
  }
  return { moved };
}
