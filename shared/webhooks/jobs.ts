import { GetQueueAttributesCommand, GetQueueUrlCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import * as v from 'valibot';
import { config } from '#shared/config.ts';
import { MAX_DELAY_SECONDS, queueUrl, sendJson, sendJsonBatch, sqs } from '#shared/queues.ts';
import { record } from '#shared/validation.ts';
import { type DeliveryItem, restartDelivery } from './delivery-store.ts';

/**
 * What the worker needs of an endpoint, as the fan-out read it at `read_at` (W1): a fan-out job
 * carries it so that the first attempt reads nothing. The secrets stay sealed (AES-256-GCM, the
 * endpoint id as AAD), as in the table. Used while at most ENDPOINT_SNAPSHOT_MAX_AGE_MS old.
 */
export const endpointSnapshot = v.object({
  id: v.string(),
  workspace_id: v.string(),
  url: v.string(),
  retry_policy: v.picklist(['EXPONENTIAL', 'LINEAR', 'NONE']),
  active: v.boolean(),
  secret_sealed: v.string(),
  previous_secret_sealed: v.optional(v.string()),
  previous_secret_expires_at: v.optional(v.string()),
  consecutive_failures: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
  read_at: v.string(),
});
export type EndpointSnapshot = v.InferOutput<typeof endpointSnapshot>;

/**
 * The delivery as the fan-out built it, on the job the fan-out sends: its first attempt needs no
 * claim (no read, no lease) and is recorded with one conditional write.
 */
export const freshDelivery = v.object({
  workspace_id: v.string(),
  endpoint_id: v.string(),
  event_id: v.string(),
  event_type: v.string(),
  created_at: v.string(),
  expires_at: v.string(),
  ttl: v.pipe(v.number(), v.safeInteger()),
  /** The stored payload, gzip, base64 (only when small: see FRESH_PAYLOAD_MAX_BYTES). */
  payload_gz: v.string(),
  /**
   * `false`: the fan-out wrote no record, this job is the delivery until its first outcome
   * creates it (see fanout.ts). Absent: the fan-out wrote it.
   */
  written: v.optional(v.literal(false)),
});
export type FreshDelivery = v.InferOutput<typeof freshDelivery>;

/** One delivery attempt to make (attempt = attempts already made in the cycle). */
export const deliverJob = v.object({
  kind: v.literal('deliver'),
  delivery_id: v.string(),
  cycle: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
  attempt: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
  /** The delivery's endpoint, when the sender knew it (the per-endpoint concurrency limit reads it). */
  endpoint_id: v.optional(v.string()),
  /** The endpoint as the fan-out read it (fan-out jobs). */
  endpoint: v.optional(endpointSnapshot),
  /** The delivery as created (the creating fan-out's job): a lease-free first attempt. */
  fresh: v.optional(freshDelivery),
  /** Not before this time (ISO); the worker re-delays jobs that arrive early (SQS caps delays at 15 min). */
  not_before: v.optional(v.string()),
  /** How often the job was put back because its delivery was not ready for it. */
  defers: v.optional(v.pipe(v.number(), v.safeInteger())),
  /** How often the job was put back because its endpoint had its attempts in flight (see endpoint-gate.ts). */
  waits: v.optional(v.pipe(v.number(), v.safeInteger())),
});
/** A delivery that FAILED after its last retry; sits in the DLQ, and restarts it when redriven. */
export const deadJob = v.object({
  kind: v.literal('dead'),
  delivery_id: v.string(),
  cycle: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
  reason: v.string(),
});
/** Re-send the failed deliveries of an endpoint in a time range, page by page. */
export const recoverJob = v.object({
  kind: v.literal('recover'),
  workspace_id: v.string(),
  endpoint_id: v.string(),
  since: v.string(),
  until: v.string(),
  cursor: v.optional(record(v.string(), v.unknown())),
});
export const deliveryQueueJob = v.variant('kind', [deliverJob, deadJob, recoverJob]);
export type DeliverJob = v.InferOutput<typeof deliverJob>;
export type DeadJob = v.InferOutput<typeof deadJob>;
export type RecoverJob = v.InferOutput<typeof recoverJob>;
export type DeliveryQueueJob = v.InferOutput<typeof deliveryQueueJob>;

/** Seconds until `notBefore`, capped at the SQS maximum (and at `cap`, which tests set to 0). */
export function delayFor(notBefore: string | undefined, now: Date, cap = MAX_DELAY_SECONDS): number {
  if (!notBefore) return 0;
  const seconds = Math.ceil((Date.parse(notBefore) - now.getTime()) / 1000);
  return Math.max(0, Math.min(seconds, cap, MAX_DELAY_SECONDS));
}

/** Enqueues jobs without delay. */
export async function enqueueJobs(jobs: DeliveryQueueJob[]): Promise<void> {
  if (jobs.length) await sendJsonBatch('DELIVERY_QUEUE_URL', jobs);
}

/** Enqueues one job with a delay in seconds (clamped to 15 minutes). */
export async function enqueueJob(job: DeliveryQueueJob, delaySeconds = 0): Promise<void> {
  await sendJson('DELIVERY_QUEUE_URL', job, delaySeconds);
}

let dlqUrl: string | undefined;

/**
 * The deliveries DLQ: `DELIVERY_DLQ_URL` when set, otherwise found from the delivery queue's
 * redrive policy (one lookup per process).
 */
export async function deliveryDlqUrl(): Promise<string> {
  const configured = config().DELIVERY_DLQ_URL;
  if (configured) return configured;
  if (dlqUrl) return dlqUrl;
  const main = queueUrl('DELIVERY_QUEUE_URL');
  const { Attributes } = await sqs().send(
    new GetQueueAttributesCommand({ QueueUrl: main, AttributeNames: ['RedrivePolicy'] }),
  );
  const policy = JSON.parse(Attributes?.RedrivePolicy ?? '{}') as { deadLetterTargetArn?: string };
  const arn = policy.deadLetterTargetArn?.split(':');
  if (!arn || arn.length < 6) throw new Error('The delivery queue has no dead-letter queue');
  const out = await sqs().send(new GetQueueUrlCommand({ QueueName: arn[5], QueueOwnerAWSAccountId: arn[4] }));
  dlqUrl = out.QueueUrl as string;
  return dlqUrl;
}

/** Forgets the discovered DLQ URL (tests switch emulators). */
export function resetDlqUrl(): void {
  dlqUrl = undefined;
}

/** Puts a FAILED delivery's job in the DLQ, where the depth alarm sees it and redrive restarts it. */
export async function sendToDlq(job: DeadJob): Promise<void> {
  await sqs().send(
    new SendMessageCommand({ QueueUrl: await deliveryDlqUrl(), MessageBody: JSON.stringify(job) }),
  );
}

/**
 * Starts a new cycle for a finished delivery and schedules its first attempt. The job is sent
 * before the state changes (a job that arrives first is put back until the restart shows), so
 * a crash in between loses nothing: the caller's message is retried and restarts again.
 */
export async function restartAndSchedule(
  d: Pick<DeliveryItem, 'id' | 'cycle' | 'status' | 'workspace_id' | 'created_at'> &
    Partial<Pick<DeliveryItem, 'endpoint_id'>>,
  now: Date,
): Promise<boolean> {
  await enqueueJobs([
    { kind: 'deliver', delivery_id: d.id, cycle: d.cycle + 1, attempt: 0, endpoint_id: d.endpoint_id },
  ]);
  return restartDelivery(d, now);
}
