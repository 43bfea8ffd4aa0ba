import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

/** How long a message left for the next run stays hidden from this run (made visible again at its end). */
const DEFER_VISIBILITY_SECONDS = 900;

/** What one redrive run did. */
export interface RedriveResult {
  /** Messages sent back to the delivery queue (one per delivery at most). */
  moved: number;
  /** Exact copies of a message this run moved: deleted from the DLQ, not sent again. */
  duplicates: number;
  /**
   * Messages left in the DLQ for the next run: sent to the DLQ after this run started (for
   * instance by the failure of a delivery this run restarted), or another job of a delivery this
   * run already moved.
   */
  deferred: number;
}

/**
 * The key a DLQ message is de-duplicated on within a run: its delivery (a `dead` or `deliver`
 * job), otherwise the whole body (a `recover` job, or something unreadable).
 */
function deliveryKey(body: string): string {
  try {
    const job = JSON.parse(body) as { delivery_id?: unknown };
    if (typeof job?.delivery_id === 'string') return `delivery:${job.delivery_id}`;
  } catch {
    // not JSON: the body is its own key
  }
  return `body:${body}`;
}

/**
 * Moves the messages of the deliveries DLQ that were there when the run started back to the
 * delivery queue, batch by batch: a message is deleted from the DLQ only after the delivery queue
 * accepted it. Each delivery is moved at most once per run, so every FAILED delivery present at
 * the start is restarted exactly once per run, even while the worker runs alongside and parks the
 * deliveries that fail again in the DLQ:
 *
 * - a message SQS accepted after the run started (`SentTimestamp`) is left for the next run: the
 *   run never drains its own restarts' failures;
 * - a second message of a delivery already moved is left for the next run too (another job of it,
 *   e.g. one a clock skew let through), or deleted when it is an exact copy (at-least-once sends).
 *
 * Messages left are hidden while the run lasts and made visible again at its end. Safe to run
 * twice or to interrupt: the worker is idempotent on delivery id + state (a `dead` job restarts
 * its FAILED delivery only while it is FAILED in that cycle; a `deliver` job for an attempt
 * already made is dropped), so copies never create a second delivery or a second POST of a
 * delivered one.
 */
export async function redriveDeliveries(input: {
  client: SQSClient;
  dlqUrl: string;
  queueUrl: string;
  /** Stop after moving this many messages (default: until the DLQ reads empty). */
  max?: number;
  /** Epoch ms (default Date.now); compared with SQS's `SentTimestamp` of each message. */
  now?: () => number;
}): Promise<RedriveResult> {
  const { client, dlqUrl, queueUrl } = input;
  const startedAt = (input.now ?? Date.now)();
  const result: RedriveResult = { moved: 0, duplicates: 0, deferred: 0 };
  /** Body of the message moved per key in this run. */
  const movedBodies = new Map<string, string>();
  /** Receipt handle of each message left for the next run, by message id. */
  const deferred = new Map<string, string>();
  try {
    for (;;) {
      if (input.max !== undefined && result.moved >= input.max) break;
      const out = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: dlqUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          VisibilityTimeout: 60,
          MessageSystemAttributeNames: ['SentTimestamp'],
        }),
      );
      const messages = out.Messages ?? [];
      if (!messages.length) break;
      const move: Message[] = [];
      const drop: Message[] = [];
      const keep: Message[] = [];
      for (const m of messages) {
        const body = m.Body ?? '';
        const key = deliveryKey(body);
        const sentAt = Number(m.Attributes?.SentTimestamp);
        const movedBody = movedBodies.get(key);
        const room = input.max === undefined || result.moved + move.length < input.max;
        // A message without a SentTimestamp counts as present at the start.
        if (movedBody === undefined && !(sentAt > startedAt) && room) {
          movedBodies.set(key, body);
          move.push(m);
        } else if (movedBody === body) drop.push(m);
        else keep.push(m);
      }
      if (keep.length) {
        for (const m of keep) deferred.set(m.MessageId ?? '', m.ReceiptHandle ?? '');
        await changeVisibility(
          client,
          dlqUrl,
          keep.map((m) => m.ReceiptHandle ?? ''),
          DEFER_VISIBILITY_SECONDS,
        );
      }
      let done: Message[] = [];
      if (move.length) {
        const sent = await client.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: move.map((m, i) => ({ Id: String(i), MessageBody: m.Body ?? '' })),
          }),
        );
        const ok = new Set((sent.Successful ?? []).map((s) => s.Id));
        done = move.filter((_, i) => ok.has(String(i)));
        if (done.length < move.length) {
          // Not accepted: neither moved nor a reason to drop its copies.
          for (const m of move.filter((_, i) => !ok.has(String(i))))
            movedBodies.delete(deliveryKey(m.Body ?? ''));
        }
      }
      const remove = [...done, ...drop.filter((m) => movedBodies.get(deliveryKey(m.Body ?? '')) === m.Body)];
      if (remove.length) {
        await client.send(
          new DeleteMessageBatchCommand({
            QueueUrl: dlqUrl,
            Entries: remove.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
          }),
        );
      }
      result.moved += done.length;
      result.duplicates += remove.length - done.length;
      if (done.length < move.length)
        throw new Error(`${move.length - done.length} messages were not accepted; run again`);
    }
  } finally {
    result.deferred = deferred.size;
    // Visible again, for the DLQ depth alarm and the next run (left alone, they would be after
    // DEFER_VISIBILITY_SECONDS anyway).
    if (deferred.size) await changeVisibility(client, dlqUrl, [...deferred.values()], 0);
  }
  return result;
}

async function changeVisibility(
  client: SQSClient,
  queueUrl: string,
  receipts: string[],
  seconds: number,
): Promise<void> {
  for (let i = 0; i < receipts.length; i += 10) {
    await client.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queueUrl,
        Entries: receipts.slice(i, i + 10).map((r, j) => ({
          Id: String(j),
          ReceiptHandle: r,
          VisibilityTimeout: seconds,
        })),
      }),
    );
  }
}
