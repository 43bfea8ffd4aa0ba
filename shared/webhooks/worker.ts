import { randomUUID } from 'node:crypto';
import { config } from '#shared/config.ts';
import { logger } from '#shared/logger.ts';
import { type PinnedRequester, requestPinned } from '#shared/net/pinned-http.ts';
import { resolveTarget, UnsafeTargetError } from '#shared/net/url-guard.ts';
import { PING_EVENT } from './catalog.ts';
import { payloadText } from './delivery-payload.ts';
import { failedDeliveriesPage } from './delivery-queries.ts';
import {
  claimAttempt,
  type DeliveryItem,
  getDelivery,
  logDisabled,
  recordAttempt,
  type StoredAttempt,
} from './delivery-store.ts';
import { findEndpoint, signingSecrets } from './endpoints.ts';
import {
  type DeadJob,
  type DeliverJob,
  type DeliveryQueueJob,
  delayFor,
  enqueueJob,
  enqueueJobs,
  type RecoverJob,
  restartAndSchedule,
  sendToDlq,
} from './jobs.ts';
import { decide } from './retry.ts';
import { signedHeaders } from './signing.ts';

/** What the delivery worker depends on; tests control time, randomness and faults. */
export interface WorkerDeps {
  now: () => Date;
  random: () => number;
  post: PinnedRequester;
  /** Cap on SQS DelaySeconds (900 in AWS; tests use 0 and fast-forward `now` instead). */
  maxSqsDelaySeconds: number;
  /** Test hook: runs right after the POST, before anything is recorded (simulates a crash there). */
  afterPost?: (deliveryId: string) => void;
  /** Test hook: runs right after an attempt's outcome is recorded, before any follow-up is sent. */
  afterRecord?: (deliveryId: string) => void;
}

export const defaultDeps = (): WorkerDeps => ({
  now: () => new Date(),
  random: Math.random,
  post: requestPinned,
  maxSqsDelaySeconds: 900,
});

export type JobOutcome =
  | 'delivered'
  | 'retry-scheduled'
  | 'failed'
  | 'expired'
  | 'deferred'
  | 'stale'
  | 'missing'
  | 'resumed'
  | 'restarted'
  | 'recover-page';

/** Jobs put back because their delivery was not ready for them are dropped after this many tries. */
const MAX_DEFERS = 10;
/**
 * Extra lease time beyond the attempt's deadline (WEBHOOK_TIMEOUT_SECONDS, DNS included), for
 * signing and recording. With WEBHOOK_TIMEOUT_SECONDS ≤ 30 (enforced by the settings) an attempt
 * and its lease end within the worker's 60 s Lambda timeout.
 */
export const LEASE_MARGIN_SECONDS = 15;

/** Runs one job of the deliveries queue. `receiveCount` > 1 means SQS hands it out again after a failure. */
export async function processJob(
  job: DeliveryQueueJob,
  receiveCount: number,
  deps: WorkerDeps = defaultDeps(),
): Promise<JobOutcome> {
  if (job.kind === 'deliver') return deliver(job, receiveCount, deps);
  if (job.kind === 'dead') return redriveDead(job, deps);
  return recoverPage(job, deps);
}

/** Puts a job back to be looked at again in `seconds` (its `not_before` moves there). */
async function defer(job: DeliverJob, seconds: number, now: Date, deps: WorkerDeps): Promise<JobOutcome> {
  const defers = (job.defers ?? 0) + 1;
  if (defers > MAX_DEFERS) {
    logger.warn('dropping a delivery job its delivery never caught up with', {
      delivery_id: job.delivery_id,
    });
    return 'stale';
  }
  const notBefore = new Date(now.getTime() + seconds * 1000).toISOString();
  await enqueueJob(
    { ...job, defers, not_before: notBefore },
    delayFor(notBefore, now, deps.maxSqsDelaySeconds),
  );
  return 'deferred';
}

/**
 * One delivery attempt, idempotent under duplicate and repeated messages:
 * - a job that arrives before its `not_before` is put back with a delay (SQS caps delays at 15 min);
 * - the attempt runs under a lease, taken first (the claim returns the delivery, so the common
 *   case reads nothing before it): two copies of a job never POST twice;
 * - a job whose claim fails is looked at: stale for an attempt already made, except when SQS
 *   retries it after a crash between recording and scheduling, when the follow-up (next job or
 *   DLQ message) is re-sent; put back when its restart is not recorded yet or another copy
 *   holds the lease.
 */
async function deliver(job: DeliverJob, receiveCount: number, deps: WorkerDeps): Promise<JobOutcome> {
  let now = deps.now();
  if (job.not_before && Date.parse(job.not_before) > now.getTime()) {
    await enqueueJob(job, delayFor(job.not_before, now, deps.maxSqsDelaySeconds));
    return 'deferred';
  }
  const cfg = config();
  const leaseId = randomUUID();
  const d = await claimAttempt(
    { id: job.delivery_id, cycle: job.cycle, attempt: job.attempt },
    leaseId,
    now,
    cfg.WEBHOOK_TIMEOUT_SECONDS + LEASE_MARGIN_SECONDS,
  );
  if (!d) return notClaimed(job, receiveCount, now, deps);

  if (Date.parse(d.expires_at) <= now.getTime()) {
    const done = await recordAttempt({
      d,
      leaseId,
      status: 'EXPIRED',
      now,
      error: 'Not delivered within WEBHOOK_DELIVERY_TTL_HOURS',
    });
    if (done) logDisabled(d, done);
    return done ? 'expired' : 'stale';
  }
  const endpoint = await findEndpoint(d.workspace_id, d.endpoint_id);
  if (!endpoint || (!endpoint.active && d.event_type !== PING_EVENT)) {
    const error = endpoint
      ? `The endpoint is disabled: ${endpoint.disabled_reason ?? ''}`.trim()
      : 'The endpoint was deleted';
    const done = await recordAttempt({
      d,
      leaseId,
      status: 'FAILED',
      now,
      error,
      knownStreak: endpoint?.consecutive_failures,
    });
    return done ? 'failed' : 'stale';
  }

  // One deadline for the whole attempt: DNS resolution, connection, request and response.
  const deadline = performance.now() + cfg.WEBHOOK_TIMEOUT_SECONDS * 1000;
  const remainingMs = () => Math.max(1, Math.round(deadline - performance.now()));
  const body = payloadText(d);
  const startedAt = now;
  const attempt: StoredAttempt = {
    cycle: d.cycle,
    attempt: d.attempt_count + 1,
    started_at: startedAt.toISOString(),
    duration_ms: 0,
    url: endpoint.url,
    request_headers: {},
  };
  let status: number | undefined;
  let retryAfter: string | undefined;
  let refused: string | undefined;
  try {
    const target = await resolveTarget(
      endpoint.url,
      { allowLoopback: cfg.ALLOW_LOOPBACK_TARGETS },
      { timeoutMs: remainingMs() },
    );
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'PronaFlow-Webhooks/1.0',
      ...signedHeaders(await signingSecrets(endpoint, now), d.id, Math.floor(now.getTime() / 1000), body),
    };
    attempt.request_headers = headers;
    const res = await deps.post({
      url: target.url,
      address: target.address,
      headers,
      body,
      timeoutMs: remainingMs(),
    });
    deps.afterPost?.(d.id);
    status = res.status;
    retryAfter = res.headers['retry-after'];
    Object.assign(attempt, {
      duration_ms: res.durationMs,
      status: res.status,
      response_headers: res.status === undefined ? undefined : res.headers,
      response_body: res.status === undefined ? undefined : res.body,
      response_truncated: res.status === undefined ? undefined : res.bodyTruncated,
      error: res.error,
    });
  } catch (err) {
    if (!(err instanceof UnsafeTargetError)) throw err;
    // A refused target fails the delivery at once; a resolution failure is retried like any
    // transport error (DNS may come back).
    if (err.kind === 'refused') refused = `Refused target: ${err.message}`;
    attempt.error = refused ?? err.message;
  }

  now = deps.now();
  const decision = decide({
    status,
    retryAfter,
    error: attempt.error,
    refused,
    policy: endpoint.retry_policy,
    attemptsMade: d.attempt_count + 1,
    settings: { maxRetries: cfg.WEBHOOK_MAX_RETRIES, baseSeconds: cfg.WEBHOOK_RETRY_BACKOFF_SECONDS },
    now,
    random: deps.random,
  });

  if (decision.kind === 'delivered') {
    const done = await recordAttempt({ d, leaseId, attempt, status: 'DELIVERED', now });
    if (done) deps.afterRecord?.(d.id);
    return done ? 'delivered' : 'stale';
  }
  if (decision.kind === 'retry') {
    const next = new Date(now.getTime() + decision.delaySeconds * 1000);
    if (next.getTime() >= Date.parse(d.expires_at)) {
      const done = await recordAttempt({
        d,
        leaseId,
        attempt,
        status: 'EXPIRED',
        now,
        error: `${attempt.error ?? `HTTP ${status}`}; the next retry would fall after the delivery's expiry`,
        knownStreak: endpoint.consecutive_failures,
      });
      if (done) {
        deps.afterRecord?.(d.id);
        logDisabled(d, done);
      }
      return done ? 'expired' : 'stale';
    }
    const nextAttemptAt = next.toISOString();
    const done = await recordAttempt({ d, leaseId, attempt, status: 'PENDING', now, nextAttemptAt });
    if (!done) return 'stale';
    deps.afterRecord?.(d.id);
    await scheduleNext(d.id, d.cycle, d.attempt_count + 1, nextAttemptAt, now, deps);
    return 'retry-scheduled';
  }
  // The endpoint's disable (410, or the failure streak reaching its limit) is part of the record's
  // transaction: a crash after it loses nothing; the DLQ message is re-sent by the resume path.
  const done = await recordAttempt({
    d,
    leaseId,
    attempt,
    status: 'FAILED',
    now,
    error: decision.reason,
    deadLetter: decision.deadLetter,
    disableEndpoint: decision.disableEndpoint,
    knownStreak: endpoint.consecutive_failures,
  });
  if (!done) return 'stale';
  deps.afterRecord?.(d.id);
  logDisabled(d, done);
  if (decision.deadLetter) {
    await sendToDlq({ kind: 'dead', delivery_id: d.id, cycle: d.cycle, reason: decision.reason });
  }
  return 'failed';
}

/** Why a job's claim failed, from the delivery as it is now, and what to do with the job. */
async function notClaimed(
  job: DeliverJob,
  receiveCount: number,
  now: Date,
  deps: WorkerDeps,
): Promise<JobOutcome> {
  const d = await getDelivery(job.delivery_id, now);
  if (!d) return 'missing';
  if (job.cycle > d.cycle) return defer(job, 2, now, deps); // a restart not recorded yet
  if (job.cycle < d.cycle || job.attempt < d.attempt_count - 1) return 'stale';
  if (job.attempt === d.attempt_count - 1) {
    if (receiveCount > 1) await resumeFollowUp(d);
    return receiveCount > 1 ? 'resumed' : 'stale';
  }
  if (job.attempt > d.attempt_count || d.status !== 'PENDING') return 'stale';
  // Another copy is attempting now (or its lease just ended): check back when its lease ends.
  const wait = Math.max(1, (d.lease_until ?? 0) - Math.floor(now.getTime() / 1000));
  return defer(job, wait, now, deps);
}

async function scheduleNext(
  id: string,
  cycle: number,
  attempt: number,
  notBefore: string,
  now: Date,
  deps: WorkerDeps,
) {
  await enqueueJob(
    { kind: 'deliver', delivery_id: id, cycle, attempt, not_before: notBefore },
    delayFor(notBefore, now, deps.maxSqsDelaySeconds),
  );
}

/** Re-sends what should follow the latest recorded attempt (after a crash between record and send). */
async function resumeFollowUp(d: DeliveryItem): Promise<void> {
  if (d.status === 'PENDING' && d.next_attempt_at) {
    await enqueueJob({
      kind: 'deliver',
      delivery_id: d.id,
      cycle: d.cycle,
      attempt: d.attempt_count,
      not_before: d.next_attempt_at,
    });
  } else if (d.status === 'FAILED' && d.dead_letter) {
    await sendToDlq({ kind: 'dead', delivery_id: d.id, cycle: d.cycle, reason: d.last_error ?? 'FAILED' });
  }
}

/** A FAILED delivery redriven from the DLQ: restarted once, whatever the number of copies. */
async function redriveDead(job: DeadJob, deps: WorkerDeps): Promise<JobOutcome> {
  const now = deps.now();
  const d = await getDelivery(job.delivery_id, now);
  if (!d || d.cycle !== job.cycle || d.status === 'PENDING') return 'stale';
  return (await restartAndSchedule(d, now)) ? 'restarted' : 'stale';
}

/** One page of a recover request; the next page goes back on the queue. */
async function recoverPage(job: RecoverJob, deps: WorkerDeps): Promise<JobOutcome> {
  const now = deps.now();
  const endpoint = await findEndpoint(job.workspace_id, job.endpoint_id);
  if (!endpoint?.active) return 'stale';
  const page = await failedDeliveriesPage(job.endpoint_id, job.since, job.until, job.cursor);
  for (const d of page.items) await restartAndSchedule(d, now);
  if (page.next) await enqueueJobs([{ ...job, cursor: page.next }]);
  return 'recover-page';
}
