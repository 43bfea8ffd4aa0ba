import { randomUUID } from 'node:crypto';
import { config } from '#shared/config.ts';
import { secondsLeft } from '#shared/db/lease.ts';
import { logger } from '#shared/logger.ts';
import { metrics } from '#shared/metrics.ts';
import { type PinnedRequester, requestPinned } from '#shared/net/pinned-http.ts';
import { resolveTarget, UnsafeTargetError } from '#shared/net/url-guard.ts';
import { PING_EVENT } from './catalog.ts';
import { payloadText } from './delivery-payload.ts';
import { failedDeliveriesPage } from './delivery-queries.ts';
import {
  type AttemptRecord,
  claimAttempt,
  type DeliveryItem,
  freshDeliveryItem,
  getDelivery,
  logDisabled,
  type RecordedOutcome,
  recordAttempt,
  type StoredAttempt,
  writeDeliveryUnlessExists,
} from './delivery-store.ts';
import { acquireSlot, type Slot } from './endpoint-gate.ts';
import { type EndpointItem, findEndpoint, signingSecrets } from './endpoints.ts';
import {
  type DeadJob,
  type DeliverJob,
  type DeliveryQueueJob,
  delayFor,
  enqueueJob,
  enqueueJobs,
  type FreshDelivery,
  type RecoverJob,
  restartAndSchedule,
  sendToDlq,
} from './jobs.ts';
import { raiseEndpointDisabled } from './operational-events.ts';
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
  | 'dropped'
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

/**
 * One delivery attempt, idempotent under duplicate and repeated messages, in five stages:
 * {@link prepareAttempt} (claim the attempt, load the endpoint and its secrets, decide whether to
 * send) → {@link sendAttempt} (the signed POST) → {@link assessAttempt} (what the answer means) →
 * {@link recordOutcome} (the attempt and the delivery's new state, conditionally) →
 * {@link followUp} (the next job, the DLQ, the job put back). Each stage takes and returns plain
 * data, so a test can run one alone: prepare reads and claims, send alone talks to the endpoint,
 * record alone writes the outcome, follow-up alone sends messages.
 */
async function deliver(job: DeliverJob, receiveCount: number, deps: WorkerDeps): Promise<JobOutcome> {
  // The endpoint's concurrency limit (endpoint-gate.ts), before anything is claimed: a job of an
  // endpoint at its limit with a slow attempt in flight goes back on the queue, holding nothing.
  let slot: Slot | undefined;
  const due = !job.not_before || Date.parse(job.not_before) <= deps.now().getTime();
  if (job.endpoint_id && due) {
    slot = await acquireSlot(job.endpoint_id);
    if (!slot) return followUp(waitForSlot(job, deps.now(), deps.random), deps);
  }
  try {
    return await deliverInSlot(job, receiveCount, deps, slot);
  } finally {
    slot?.done();
  }
}

/** The job put back because its endpoint has its limit of attempts in flight: 1, 2, 4 … 300 s later. */
function waitForSlot(job: DeliverJob, now: Date, random: () => number): FollowUp {
  const waits = (job.waits ?? 0) + 1;
  const seconds = Math.min(300, 2 ** (waits - 1)) * (0.8 + 0.4 * random());
  const notBefore = new Date(now.getTime() + Math.ceil(seconds * 1000)).toISOString();
  return { kind: 'put-back', job: { ...job, waits, not_before: notBefore }, now };
}

async function deliverInSlot(
  job: DeliverJob,
  receiveCount: number,
  deps: WorkerDeps,
  slot: Slot | undefined,
): Promise<JobOutcome> {
  const prepared = await prepareAttempt(job, receiveCount, deps);
  if (prepared.kind === 'skip') return prepared.outcome;
  if (prepared.kind === 'put-back' || prepared.kind === 'resume') return followUp(prepared, deps);

  const { claim } = prepared;
  let attempt: StoredAttempt | undefined;
  let outcome: AttemptOutcome;
  let now = claim.now;
  let knownStreak: number | undefined;
  if (prepared.kind === 'send') {
    const started = performance.now();
    const sent = await sendAttempt(prepared, deps);
    slot?.done({
      durationMs: performance.now() - started,
      timedOut: /timed out/i.test(sent.attempt.error ?? ''),
    });
    if (sent.posted) deps.afterPost?.(claim.d.id);
    now = deps.now();
    attempt = sent.attempt;
    outcome = assessAttempt({ d: claim.d, endpoint: prepared.endpoint, sent, now, random: deps.random });
    knownStreak = prepared.endpoint.consecutive_failures;
  } else {
    outcome = prepared.outcome;
    knownStreak = prepared.knownStreak;
  }

  const recorded = await recordOutcome({ claim, attempt, outcome, now, knownStreak });
  if (!recorded) return 'stale';
  if (attempt) deps.afterRecord?.(claim.d.id);
  return followUp({ kind: 'recorded', d: claim.d, outcome, recorded, now, attempted: !!attempt }, deps);
}

// ── Stage 1: prepare ─────────────────────────────────────────────────────────────────────────

/**
 * An attempt this worker may make: under its lease, or (the first attempt of a delivery its
 * creating fan-out's job announces) without one, recorded conditionally on nobody having
 * recorded it first.
 */
export interface Claim {
  /** The delivery as the claim returned it, or as the fresh job carried it (before this attempt). */
  d: DeliveryItem;
  /** Our lease; absent for a lease-free first attempt. */
  leaseId?: string;
  /** The fan-out wrote no record (its job is the delivery until then): the outcome creates it. */
  create?: boolean;
  /** When the claim was made: the attempt's start and its signature's timestamp. */
  now: Date;
}

/** What an attempt (or a claim that sends nothing) comes to: record writes it, follow-up acts on it. */
export type AttemptOutcome =
  | { kind: 'delivered' }
  /** PENDING, the next attempt at `nextAttemptAt`. */
  | { kind: 'retry'; nextAttemptAt: string }
  /** EXPIRED: past `expires_at` at the claim, or the next retry would fall after it. */
  | { kind: 'expired'; error: string }
  /** FAILED by the endpoint's answer or a refused target; `deadLetter`: parked in the DLQ. */
  | { kind: 'failed'; error: string; deadLetter: boolean; disableEndpoint?: string }
  /** FAILED without a request: the endpoint is disabled or was deleted. */
  | { kind: 'endpoint-unavailable'; error: string };

/** What {@link prepareAttempt} decided. */
export type Prepared =
  /** Nothing to do: a stale copy (its attempt was made, or another copy won) or a vanished delivery. */
  | { kind: 'skip'; outcome: 'stale' | 'missing' | 'dropped' }
  /** The job is early (its `not_before`, a restart not recorded yet, another copy's lease): put it back as `job`. */
  | { kind: 'put-back'; job: DeliverJob; now: Date }
  /** SQS handed out again the job of the latest recorded attempt: its follow-up may have been lost. */
  | { kind: 'resume'; d: DeliveryItem }
  /** Claimed, and settled without a request (expired, endpoint unavailable). */
  | { kind: 'record'; claim: Claim; outcome: AttemptOutcome; knownStreak?: number }
  /** Claimed, with everything the POST needs. */
  | { kind: 'send'; claim: Claim; endpoint: DeliveryEndpoint; secrets: string[] };

/** What an attempt needs of its endpoint: the stored item, or the snapshot a fan-out job carries. */
export type DeliveryEndpoint = Pick<
  EndpointItem,
  | 'id'
  | 'workspace_id'
  | 'url'
  | 'retry_policy'
  | 'active'
  | 'secret_sealed'
  | 'previous_secret_sealed'
  | 'previous_secret_expires_at'
  | 'consecutive_failures'
> &
  Partial<Pick<EndpointItem, 'disabled_reason' | 'removing'>>;

/**
 * How old the endpoint a fan-out job carries may be for its first attempt to use it instead of
 * reading it: a PATCH (URL, disable), a deletion or a secret rotation reaches first attempts of
 * events fanned out before it within this delay. Older snapshots are read again (through a cache
 * of the same age), retries and every other job always read the endpoint.
 */
export const ENDPOINT_SNAPSHOT_MAX_AGE_MS = 5000;
const endpointCache = new Map<string, { item: EndpointItem | undefined; at: number }>();

/** The endpoint of a delivery for an attempt: the job's snapshot while fresh, else read (W2). */
async function endpointFor(
  job: DeliverJob,
  d: DeliveryItem,
  opts: { cached?: boolean } = {},
): Promise<DeliveryEndpoint | undefined> {
  const snap = job.endpoint;
  const realNow = Date.now();
  if (snap && snap.id === d.endpoint_id && snap.workspace_id === d.workspace_id) {
    if (Math.abs(realNow - Date.parse(snap.read_at)) <= ENDPOINT_SNAPSHOT_MAX_AGE_MS) return snap;
    const key = `${d.workspace_id}\n${d.endpoint_id}`;
    const hit = endpointCache.get(key);
    if (opts.cached !== false && hit && realNow - hit.at <= ENDPOINT_SNAPSHOT_MAX_AGE_MS) return hit.item;
    const item = await findEndpoint(d.workspace_id, d.endpoint_id);
    if (endpointCache.size > 1000) endpointCache.clear();
    endpointCache.set(key, { item, at: realNow });
    return item;
  }
  return findEndpoint(d.workspace_id, d.endpoint_id);
}

/**
 * Stage 1: decides what a deliver job comes to, writing nothing but the claim.
 * - a job that arrives before its `not_before` is put back (SQS caps delays at 15 min);
 * - the attempt runs under a lease, taken first (the claim returns the delivery, so the common
 *   case reads nothing before it): two copies of a job never POST twice;
 * - a job whose claim fails is looked at: stale for an attempt already made, except when SQS
 *   retries it after a crash between recording and scheduling, when its follow-up is resumed;
 *   put back when its restart is not recorded yet or another copy holds the lease;
 * - a claimed delivery past its expiry, or whose endpoint is disabled (but for a ping) or
 *   deleted, is settled without a request; otherwise the endpoint's signing secrets are loaded.
 */
export async function prepareAttempt(
  job: DeliverJob,
  receiveCount: number,
  deps: Pick<WorkerDeps, 'now'>,
): Promise<Prepared> {
  const now = deps.now();
  if (job.not_before && Date.parse(job.not_before) > now.getTime()) return { kind: 'put-back', job, now };
  let claim: Claim;
  if (job.fresh && receiveCount <= 1 && job.cycle === 0 && job.attempt === 0) {
    // The creating fan-out's job, handed out for the first time: the delivery is as it carries it
    // (unless a copy of this job was first, which the conditional record finds out), so the
    // attempt is made without a claim and recorded in one conditional write. A copy of the job
    // running side by side (SQS hands out a message twice, rarely) may POST a second time, with
    // the same webhook-id; only one of them records. A job SQS hands out again after a failure
    // (receiveCount > 1: maybe a crash after the POST) claims the attempt as every other job.
    // When the fan-out wrote no record (`written: false`), this first outcome creates it.
    claim = { d: freshOf(job, job.fresh), now, create: job.fresh.written === false };
  } else {
    if (job.fresh?.written === false && job.cycle === 0 && job.attempt === 0) {
      // Handed out again (a crash, maybe after the POST): the record its first outcome was to
      // create may not exist. It is written now, PENDING, and the attempt claimed as any other.
      if (!(await writeUnwritten(job, job.fresh, now))) return { kind: 'skip', outcome: 'dropped' };
    }
    const leaseId = randomUUID();
    const d = await claimAttempt(
      { id: job.delivery_id, cycle: job.cycle, attempt: job.attempt },
      leaseId,
      now,
      config().WEBHOOK_TIMEOUT_SECONDS + LEASE_MARGIN_SECONDS,
    );
    if (!d) return notClaimed(job, receiveCount, now);
    claim = { d, leaseId, now };
  }
  const { d } = claim;

  let endpoint: DeliveryEndpoint | undefined;
  if (claim.create) {
    // A delivery nobody wrote yet: its endpoint first (read past the snapshot's age, never from
    // the cache), so that an endpoint deleted, or switched off by a workspace deletion, gets no
    // record (see shared/webhooks/lifecycle.ts); one merely disabled records FAILED as usual.
    endpoint = await endpointFor(job, d, { cached: false });
    if (!endpoint || endpoint.removing) return { kind: 'skip', outcome: 'dropped' };
  }
  if (Date.parse(d.expires_at) <= now.getTime()) {
    return {
      kind: 'record',
      claim,
      outcome: { kind: 'expired', error: 'Not delivered within WEBHOOK_DELIVERY_TTL_HOURS' },
    };
  }
  endpoint ??= await endpointFor(job, d);
  if (!endpoint || (!endpoint.active && d.event_type !== PING_EVENT)) {
    const error = endpoint
      ? `The endpoint is disabled: ${endpoint.disabled_reason ?? ''}`.trim()
      : 'The endpoint was deleted';
    return {
      kind: 'record',
      claim,
      outcome: { kind: 'endpoint-unavailable', error },
      knownStreak: endpoint?.consecutive_failures,
    };
  }
  return { kind: 'send', claim, endpoint, secrets: await signingSecrets(endpoint, now) };
}

/** The delivery a fan-out job carries, as its fan-out built it (before any attempt). */
function freshOf(job: DeliverJob, fresh: FreshDelivery): DeliveryItem {
  const { payload_gz, written: _, ...f } = fresh;
  return freshDeliveryItem(job.delivery_id, { ...f, payload_gz: Buffer.from(payload_gz, 'base64') });
}

/**
 * Writes the PENDING record of a delivery its fan-out did not write, for a job handed out again,
 * unless it exists. Only while its endpoint (read now, not the job's snapshot) exists and is not
 * being removed with its workspace (a disabled one gets its record, which the attempt then ends
 * FAILED, so recover can restart it). False when there is no record and none is written.
 */
async function writeUnwritten(job: DeliverJob, fresh: FreshDelivery, now: Date): Promise<boolean> {
  const d = freshOf(job, fresh);
  const endpoint = await findEndpoint(d.workspace_id, d.endpoint_id);
  // Deleted, or switched off by a workspace deletion: a record that exists (this very delivery's
  // first outcome, recorded before a crash) is claimed or resumed as usual, none is written.
  if (!endpoint || endpoint.removing) return (await getDelivery(d.id, now)) !== undefined;
  await writeDeliveryUnlessExists(d, now);
  return true;
}

/** Why a job's claim failed, from the delivery as it is now, and what to do with the job. */
async function notClaimed(job: DeliverJob, receiveCount: number, now: Date): Promise<Prepared> {
  const d = await getDelivery(job.delivery_id, now);
  if (!d) return { kind: 'skip', outcome: 'missing' };
  if (job.cycle > d.cycle) return putBack(job, 2, now); // a restart not recorded yet
  if (job.cycle < d.cycle || job.attempt < d.attempt_count - 1) return { kind: 'skip', outcome: 'stale' };
  if (job.attempt === d.attempt_count - 1) {
    return receiveCount > 1 ? { kind: 'resume', d } : { kind: 'skip', outcome: 'stale' };
  }
  if (job.attempt > d.attempt_count || d.status !== 'PENDING') return { kind: 'skip', outcome: 'stale' };
  // Another copy is attempting now (or its lease just ended): check back when its lease ends.
  const wait = secondsLeft(d.lease_until, now);
  return putBack(job, wait, now);
}

/** The job to look at again in `seconds` (its `not_before` moves there), or dropped after MAX_DEFERS. */
function putBack(job: DeliverJob, seconds: number, now: Date): Prepared {
  const defers = (job.defers ?? 0) + 1;
  if (defers > MAX_DEFERS) {
    logger.warn('dropping a delivery job its delivery never caught up with', {
      delivery_id: job.delivery_id,
    });
    return { kind: 'skip', outcome: 'stale' };
  }
  const notBefore = new Date(now.getTime() + seconds * 1000).toISOString();
  return { kind: 'put-back', job: { ...job, defers, not_before: notBefore }, now };
}

// ── Stage 2: send ────────────────────────────────────────────────────────────────────────────

/** What {@link sendAttempt} needs: the claim, where to send, and the secrets that sign. */
export interface AttemptToSend {
  claim: Claim;
  endpoint: Pick<DeliveryEndpoint, 'url'>;
  secrets: string[];
}

/** What {@link sendAttempt} saw. */
export interface SentAttempt {
  /** The attempt as it is stored: request headers, the bounded response or the error, duration. */
  attempt: StoredAttempt;
  /** A request went out (false: the target was refused or did not resolve, nothing was sent). */
  posted: boolean;
  /** The answer's `Retry-After`. */
  retryAfter?: string;
  /** Why the target was refused at delivery time (URL shape or address range): final, no retry. */
  refused?: string;
}

/**
 * Stage 2: the signed POST of the delivery's payload through the pinned client, after the URL
 * guard has checked the host's addresses (the client connects to the checked one). One deadline,
 * WEBHOOK_TIMEOUT_SECONDS, bounds DNS resolution, connection, request and response. Resolves for
 * every outcome of the exchange (an answer, a timeout, a refused or unresolved target, a
 * connection error): each is in the returned attempt. Only a requester that breaks its contract
 * (rejects) makes it reject.
 */
export async function sendAttempt(
  input: AttemptToSend,
  deps: Pick<WorkerDeps, 'post'>,
): Promise<SentAttempt> {
  const cfg = config();
  const { d, now } = input.claim;
  const deadline = performance.now() + cfg.WEBHOOK_TIMEOUT_SECONDS * 1000;
  const remainingMs = () => Math.max(1, Math.round(deadline - performance.now()));
  const body = payloadText(d);
  const attempt: StoredAttempt = {
    cycle: d.cycle,
    attempt: d.attempt_count + 1,
    started_at: now.toISOString(),
    duration_ms: 0,
    url: input.endpoint.url,
    request_headers: {},
  };
  try {
    const target = await resolveTarget(
      input.endpoint.url,
      { allowLoopback: cfg.ALLOW_LOOPBACK_TARGETS },
      { timeoutMs: remainingMs() },
    );
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'PronaFlow-Webhooks/1.0',
      ...signedHeaders(input.secrets, d.id, Math.floor(now.getTime() / 1000), body),
    };
    attempt.request_headers = headers;
    const res = await deps.post({
      url: target.url,
      address: target.address,
      headers,
      body,
      timeoutMs: remainingMs(),
    });
    metrics.count('WebhookDeliveryAttempts');
    metrics.duration('WebhookDeliveryLatency', res.durationMs);
    Object.assign(attempt, {
      duration_ms: res.durationMs,
      status: res.status,
      response_headers: res.status === undefined ? undefined : res.headers,
      response_body: res.status === undefined ? undefined : res.body,
      response_truncated: res.status === undefined ? undefined : res.bodyTruncated,
      error: res.error,
    });
    return { attempt, posted: true, retryAfter: res.headers['retry-after'] };
  } catch (err) {
    if (!(err instanceof UnsafeTargetError)) throw err;
    // A refused target fails the delivery at once; a resolution failure is retried like any
    // transport error (DNS may come back).
    const refused = err.kind === 'refused' ? `Refused target: ${err.message}` : undefined;
    attempt.error = refused ?? err.message;
    return { attempt, posted: false, refused };
  }
}

// ── Stage 3: assess ──────────────────────────────────────────────────────────────────────────

/**
 * Stage 3 (pure): what an attempt comes to under the endpoint's retry policy and the settings
 * (see `decide`): delivered; a retry, unless it would fall after the delivery's expiry (then
 * EXPIRED); or FAILED, parked in the DLQ when the retries are used up, disabling the endpoint on 410.
 */
export function assessAttempt(input: {
  d: Pick<DeliveryItem, 'attempt_count' | 'expires_at'>;
  endpoint: Pick<EndpointItem, 'retry_policy'>;
  sent: Pick<SentAttempt, 'attempt' | 'retryAfter' | 'refused'>;
  /** When the answer came. */
  now: Date;
  random: () => number;
}): AttemptOutcome {
  const cfg = config();
  const { d, sent, now } = input;
  const { status, error } = sent.attempt;
  const decision = decide({
    status,
    retryAfter: sent.retryAfter,
    error,
    refused: sent.refused,
    policy: input.endpoint.retry_policy,
    attemptsMade: d.attempt_count + 1,
    settings: { maxRetries: cfg.WEBHOOK_MAX_RETRIES, baseSeconds: cfg.WEBHOOK_RETRY_BACKOFF_SECONDS },
    now,
    random: input.random,
  });
  if (decision.kind === 'delivered') return { kind: 'delivered' };
  if (decision.kind === 'retry') {
    const next = new Date(now.getTime() + decision.delaySeconds * 1000);
    if (next.getTime() >= Date.parse(d.expires_at)) {
      return {
        kind: 'expired',
        error: `${error ?? `HTTP ${status}`}; the next retry would fall after the delivery's expiry`,
      };
    }
    return { kind: 'retry', nextAttemptAt: next.toISOString() };
  }
  return {
    kind: 'failed',
    error: decision.reason,
    deadLetter: decision.deadLetter,
    disableEndpoint: decision.disableEndpoint,
  };
}

// ── Stage 4: record ──────────────────────────────────────────────────────────────────────────

/** What {@link recordOutcome} writes. */
export interface OutcomeToRecord {
  claim: Claim;
  /** The attempt made (absent when the claim was settled without a request). */
  attempt?: StoredAttempt;
  outcome: AttemptOutcome;
  /** When the outcome was decided. */
  now: Date;
  /** The endpoint's `consecutive_failures` as prepare read it, if it did (saves a retry of the transaction). */
  knownStreak?: number;
}

/** The delivery store's record of an outcome (pure): the status and fields each outcome sets. */
export function attemptRecordOf(input: OutcomeToRecord): AttemptRecord {
  const { claim, outcome, knownStreak } = input;
  const base = {
    d: claim.d,
    leaseId: claim.leaseId,
    attempt: input.attempt,
    now: input.now,
    create: claim.create,
  };
  switch (outcome.kind) {
    // A success resets the streak: the streak prepare read says whether it must be written at once.
    case 'delivered':
      return { ...base, status: 'DELIVERED', knownStreak };
    case 'retry':
      return { ...base, status: 'PENDING', nextAttemptAt: outcome.nextAttemptAt };
    // A failure counts toward the endpoint's streak: the streak prepare read saves a retry.
    case 'expired':
      return { ...base, status: 'EXPIRED', error: outcome.error, knownStreak };
    case 'endpoint-unavailable':
      return { ...base, status: 'FAILED', error: outcome.error, knownStreak };
    case 'failed':
      return {
        ...base,
        status: 'FAILED',
        error: outcome.error,
        deadLetter: outcome.deadLetter,
        disableEndpoint: outcome.disableEndpoint,
        knownStreak,
      };
  }
}

/**
 * Stage 4: records the attempt and the delivery's new state under our lease (see `recordAttempt`):
 * a terminal outcome updates the endpoint's stats, disables it when due (410, or the failure
 * streak reaching its limit) and deletes the expiry marker, in one transaction, so a crash after
 * it loses nothing. Returns what happened to the endpoint, or false when the delivery moved on
 * meanwhile (this copy is stale).
 */
export function recordOutcome(input: OutcomeToRecord): Promise<RecordedOutcome | false> {
  return recordAttempt(attemptRecordOf(input));
}

// ── Stage 5: follow up ───────────────────────────────────────────────────────────────────────

/** What {@link followUp} acts on: a job prepare put back or resumes, or a recorded outcome. */
export type FollowUp =
  | Extract<Prepared, { kind: 'put-back' | 'resume' }>
  | {
      kind: 'recorded';
      d: DeliveryItem;
      outcome: AttemptOutcome;
      recorded: RecordedOutcome;
      now: Date;
      /** An attempt was made (sent, or refused at the target): false when settled without one. */
      attempted?: boolean;
    };

/**
 * Stage 5: the messages that follow, and the job's outcome. A retry sends the next attempt's job
 * (delayed up to the SQS cap; the worker re-delays it until `not_before`); a FAILED delivery whose
 * retries are used up goes to the DLQ; an endpoint the record disabled is logged (the disable
 * itself is in the record's transaction). A job put back is sent again; a resumed one re-sends the
 * follow-up of the latest recorded attempt.
 */
export async function followUp(
  input: FollowUp,
  deps: Pick<WorkerDeps, 'maxSqsDelaySeconds'>,
): Promise<JobOutcome> {
  if (input.kind === 'put-back') {
    await enqueueJob(input.job, delayFor(input.job.not_before, input.now, deps.maxSqsDelaySeconds));
    return 'deferred';
  }
  if (input.kind === 'resume') {
    await resumeFollowUp(input.d);
    return 'resumed';
  }
  const { d, outcome, recorded, now } = input;
  countOutcome(outcome, input.attempted ?? false);
  switch (outcome.kind) {
    case 'delivered':
      return 'delivered';
    case 'retry':
      await enqueueJob(
        {
          kind: 'deliver',
          delivery_id: d.id,
          cycle: d.cycle,
          attempt: d.attempt_count + 1,
          endpoint_id: d.endpoint_id,
          not_before: outcome.nextAttemptAt,
        },
        delayFor(outcome.nextAttemptAt, now, deps.maxSqsDelaySeconds),
      );
      return 'retry-scheduled';
    case 'expired':
      logDisabled(d, recorded);
      await raiseEndpointDisabled(d, recorded);
      return 'expired';
    case 'endpoint-unavailable':
      await raiseEndpointDisabled(d, recorded);
      return 'failed';
    case 'failed':
      logDisabled(d, recorded);
      await raiseEndpointDisabled(d, recorded);
      if (outcome.deadLetter) {
        await sendToDlq({ kind: 'dead', delivery_id: d.id, cycle: d.cycle, reason: outcome.error });
      }
      return 'failed';
  }
}

/**
 * The delivery metrics of a recorded outcome, counted once: a stale copy records nothing and comes
 * no further, a resumed follow-up is not counted again. A retry is a failed attempt given another
 * try; a delivery that ended without success (FAILED or EXPIRED, with or without an attempt) is
 * exhausted, and its attempt, if one was made, failed.
 */
function countOutcome(outcome: AttemptOutcome, attempted: boolean): void {
  switch (outcome.kind) {
    case 'delivered':
      metrics.count('WebhookDeliverySucceeded');
      return;
    case 'retry':
      metrics.count('WebhookDeliveryFailed');
      metrics.count('WebhookDeliveryRetried');
      return;
    case 'failed':
      // Only an attempt's answer (or a target refused at it) fails a delivery this way.
      metrics.count('WebhookDeliveryFailed');
      metrics.count('WebhookDeliveryExhausted');
      return;
    case 'expired':
    case 'endpoint-unavailable':
      if (attempted) metrics.count('WebhookDeliveryFailed');
      metrics.count('WebhookDeliveryExhausted');
      return;
  }
}

/** Re-sends what should follow the latest recorded attempt (after a crash between record and send). */
async function resumeFollowUp(d: DeliveryItem): Promise<void> {
  if (d.status === 'PENDING' && d.next_attempt_at) {
    await enqueueJob({
      kind: 'deliver',
      delivery_id: d.id,
      cycle: d.cycle,
      attempt: d.attempt_count,
      endpoint_id: d.endpoint_id,
      not_before: d.next_attempt_at,
    });
  } else if (d.status === 'FAILED' && d.dead_letter) {
    await sendToDlq({ kind: 'dead', delivery_id: d.id, cycle: d.cycle, reason: d.last_error ?? 'FAILED' });
  }
}

// ── The other jobs of the deliveries queue ───────────────────────────────────────────────────

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
