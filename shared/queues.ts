import {
  GetQueueAttributesCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { config } from '#shared/config.ts';
import { CARRIED_IDS, correlationAttributes, MAX_ID_LENGTH } from '#shared/correlation.ts';
import type { Grant } from '#shared/http/route.ts';
import { logger } from '#shared/logger.ts';
import { metrics } from '#shared/metrics.ts';
import { parseDlqUrls, type QueueDef, type QueueId, queues } from '#shared/queue-catalog.ts';
import { assertGranted } from '#shared/runtime-grants.ts';
import { traced } from '#shared/tracing.ts';

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
    // Where AWS is emulated, IAM is too: sends must target a queue the invocation may send to.
    client.middlewareStack.add(
      (next, context) => (args) => {
        const command = context.commandName ?? '';
        if (command === 'SendMessageCommand' || command === 'SendMessageBatchCommand') {
          const url = (args.input as { QueueUrl?: string }).QueueUrl ?? '';
          assertGranted(`SQS send to ${url}`, ...sendGrantsFor(url));
        }
        if (command === 'GetQueueAttributesCommand') {
          const url = (args.input as { QueueUrl?: string }).QueueUrl ?? '';
          if (Object.values(parseDlqUrls(config().DLQ_URLS)).includes(url)) {
            // Sending to a queue (CDK's grantSendMessages) includes reading its attributes.
            assertGranted(
              `SQS GetQueueAttributes of ${url}`,
              'queue:dlqs:read-attributes',
              ...sendGrantsFor(url),
            );
          }
        }
        return next(args);
      },
      { step: 'initialize', name: 'runtimeGrants' },
    );
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const command = context.commandName ?? '';
        carryCorrelation(command, args.input as SendInput);
        const out = await next(args);
        countDlqMoves(command, args.input as SendInput, out.output as SendOutput);
        return out;
      },
      { step: 'initialize', name: 'correlationIds' },
    );
    client = traced(client);
  }
  return client;
}

type Attributes = Record<string, { DataType: string; StringValue?: string }>;
type SendInput = {
  QueueUrl?: string;
  MessageAttributes?: Attributes;
  Entries?: { MessageAttributes?: Attributes }[];
};
type SendOutput = { MessageId?: string; Successful?: unknown[] } | undefined;

/** SQS takes at most 10 message attributes per message. */
export const MAX_MESSAGE_ATTRIBUTES = 10;
/**
 * The most bytes the carried correlation ids add to one message: SQS counts each attribute's
 * name, type (`String`) and value toward the message size limit (256 KiB, and 1 MiB per batch), so
 * a sender that sizes its bodies against those limits keeps this much free per message
 * (shared/bindings/records.ts). The ids are ASCII and at most MAX_ID_LENGTH characters each.
 */
export const MAX_CARRIED_ATTRIBUTE_BYTES = CARRIED_IDS.reduce(
  (n, name) => n + Buffer.byteLength(name) + Buffer.byteLength('String') + MAX_ID_LENGTH,
  0,
);

/**
 * Every message sent carries the sender's correlation ids as message attributes (the worker kit
 * restores them; shared/correlation.ts), whoever builds the command. The caller's own attributes
 * win and come first: the carried ids fill the room left under SQS's 10 attributes (in
 * CARRIED_IDS order, `correlation_id` first) and are dropped when there is none.
 */
function carryCorrelation(command: string, input: SendInput): void {
  if (command !== 'SendMessageCommand' && command !== 'SendMessageBatchCommand') return;
  const ids = Object.entries(correlationAttributes());
  if (!ids.length) return;
  const messages = command === 'SendMessageCommand' ? [input] : (input.Entries ?? []);
  for (const m of messages) {
    const own = m.MessageAttributes ?? {};
    const attributes: Attributes = { ...own };
    let count = Object.keys(own).length;
    for (const [name, value] of ids) {
      if (count >= MAX_MESSAGE_ATTRIBUTES) break;
      if (name in attributes) continue;
      attributes[name] = value;
      count++;
    }
    m.MessageAttributes = attributes;
  }
}

/** A send to a DLQ that SQS accepted is counted (`DlqMoves` by queue): messages moved, not tried. */
function countDlqMoves(command: string, input: SendInput, output: SendOutput): void {
  if (command !== 'SendMessageCommand' && command !== 'SendMessageBatchCommand') return;
  const dlq = dlqName(input.QueueUrl ?? '');
  if (!dlq) return;
  const moved = command === 'SendMessageCommand' ? 1 : (output?.Successful?.length ?? 0);
  if (moved) metrics.count('DlqMoves', moved, { queue: dlq });
}

/** The queue id of a DLQ URL (the deliveries DLQ, or one named by DLQ_URLS), else undefined. */
function dlqName(url: string): string | undefined {
  if (!url) return undefined;
  const cfg = config();
  if (cfg.DELIVERY_DLQ_URL === url) return 'deliveries';
  const found = Object.entries(parseDlqUrls(cfg.DLQ_URLS)).find(([, u]) => u === url);
  return found?.[0];
}

/** The grants that allow sending to `url` (by the queue URL variables the stack sets). */
function sendGrantsFor(url: string): Grant[] {
  const cfg = config();
  const grants: Grant[] = Object.values(queues)
    .filter((q) => cfg[q.urlEnv] === url)
    .map((q) => `queue:${q.id}:send` as Grant);
  if (cfg.DELIVERY_DLQ_URL === url) grants.push('queue:deliveries-dlq:send');
  return grants.length ? grants : ['queue:unknown:send' as Grant];
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

/** One DLQ's depth as the status view shows it (`messages` null when it could not be read). */
export interface DlqDepth {
  queue: QueueId;
  /** ApproximateNumberOfMessages: messages waiting in the DLQ for a redrive. */
  messages: number | null;
}

/**
 * The depth of every DLQ named by `DLQ_URLS` (one GetQueueAttributes each, side by side); a queue
 * that cannot be read shows `null` (logged by the caller's view, never a failed status call).
 */
export async function dlqDepths(): Promise<DlqDepth[]> {
  const urls = parseDlqUrls(config().DLQ_URLS);
  return Promise.all(
    (Object.entries(urls) as [QueueId, string][]).map(async ([queue, url]) => {
      try {
        const out = await sqs().send(
          new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }),
        );
        return { queue, messages: Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) };
      } catch (err) {
        logger.error('DLQ depth could not be read', { queue, error: err as Error });
        return { queue, messages: null };
      }
    }),
  );
}
