/**
 * The delivery worker's stages that read and write DynamoDB, each run alone against DynamoDB Local:
 * prepare (claim, endpoint, secrets, the decision) and record. No queue is involved: neither stage
 * sends a message (follow-up does, see the unit tests).
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PinnedRequester } from '#shared/net/pinned-http.ts';
import { PING_EVENT } from '#shared/webhooks/catalog.ts';
import { compressPayload, payloadOf } from '#shared/webhooks/delivery-payload.ts';
import { createDelivery, type DeliveryItem, getDelivery } from '#shared/webhooks/delivery-store.ts';
import { createEndpoint, deleteEndpoint, updateEndpoint } from '#shared/webhooks/endpoints.ts';
import type { DeliverJob } from '#shared/webhooks/jobs.ts';
import {
  defaultDeps,
  LEASE_MARGIN_SECONDS,
  type Prepared,
  prepareAttempt,
  processJob,
  recordOutcome,
} from '#shared/webhooks/worker.ts';
import { setEnv, useTestTable } from '#test/helpers/env.ts';
import { useMemorySecrets } from '#test/helpers/secrets.ts';

useTestTable();

const HOUR = 3600_000;
const TIMEOUT_SECONDS = 5;

beforeAll(() => useMemorySecrets());
beforeEach(() =>
  setEnv({
    ALLOW_LOOPBACK_TARGETS: 'true',
    WEBHOOK_TIMEOUT_SECONDS: String(TIMEOUT_SECONDS),
    WEBHOOK_DELIVERY_TTL_HOURS: '24',
  }),
);

const ws = () => `ws-${randomBytes(4).toString('hex')}`;

/** An endpoint (nothing listens at its URL: these tests never send). */
async function endpointIn(workspace: string) {
  const { view, secret } = await createEndpoint(workspace, 'u1', {
    name: 'stages',
    url: 'http://127.0.0.1:9/hook',
    events: { 'task.created': true },
    retry_policy: 'EXPONENTIAL',
  });
  return { id: view.id, secret };
}

/** A delivery to `endpointId` created at `at`; its job is never sent (tests hand it to a stage). */
async function deliveryTo(workspace: string, endpointId: string, opts: { type?: string; at?: number } = {}) {
  const at = opts.at ?? Date.now();
  const event = {
    id: `evt_${randomBytes(6).toString('hex')}`,
    type: opts.type ?? 'task.created',
    workspace_id: workspace,
    occurred_at: new Date(at).toISOString(),
    data: { task_id: 't1' },
  };
  const { item } = await createDelivery({
    event,
    endpoint: { id: endpointId, workspace_id: workspace },
    payloadGz: compressPayload(payloadOf(event)),
    now: new Date(at),
  });
  return item;
}

const jobOf = (d: Pick<DeliveryItem, 'id' | 'cycle' | 'attempt_count'>): DeliverJob => ({
  kind: 'deliver',
  delivery_id: d.id,
  cycle: d.cycle,
  attempt: d.attempt_count,
});
const at = (ms: number) => ({ now: () => new Date(ms) });

/** Narrows a prepare result to the kind a test expects, failing with what it was otherwise. */
function expectKind<K extends Prepared['kind']>(p: Prepared, kind: K): Extract<Prepared, { kind: K }> {
  expect(p.kind).toBe(kind);
  return p as Extract<Prepared, { kind: K }>;
}

describe('prepareAttempt', () => {
  it('refuses a disabled endpoint without sending: the claim goes to record as FAILED, no secrets loaded', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    await updateEndpoint(w, ep.id, { active: false });
    const d = await deliveryTo(w, ep.id);

    const p = expectKind(await prepareAttempt(jobOf(d), 1, at(Date.now())), 'record');

    expect(p.outcome).toEqual({
      kind: 'endpoint-unavailable',
      error: 'The endpoint is disabled: Disabled through the API',
    });
    expect(p.knownStreak).toBe(0);
    expect(p).not.toHaveProperty('secrets');
    // The claim holds the lease: no other copy can attempt meanwhile.
    expect(await getDelivery(d.id)).toMatchObject({ status: 'PENDING', lease_id: p.claim.leaseId });
  });

  it('refuses a deleted endpoint without sending', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    const d = await deliveryTo(w, ep.id);
    await deleteEndpoint(w, ep.id);

    const p = expectKind(await prepareAttempt(jobOf(d), 1, at(Date.now())), 'record');

    expect(p.outcome).toEqual({ kind: 'endpoint-unavailable', error: 'The endpoint was deleted' });
    expect(p.knownStreak).toBeUndefined();
  });

  it('makes the whole job FAILED with no request when the endpoint is disabled', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    await updateEndpoint(w, ep.id, { active: false });
    const d = await deliveryTo(w, ep.id);
    const posts: unknown[] = [];
    const post: PinnedRequester = async (req) => {
      posts.push(req);
      return { status: 200, headers: {}, body: '', bodyTruncated: false, durationMs: 0 };
    };

    const outcome = await processJob(jobOf(d), 1, { ...defaultDeps(), post });

    expect(outcome).toBe('failed');
    expect(posts).toEqual([]);
    expect(await getDelivery(d.id)).toMatchObject({
      status: 'FAILED',
      attempt_count: 0,
      attempts: [],
      last_error: 'The endpoint is disabled: Disabled through the API',
    });
  });

  it('prepares a ping to a disabled endpoint for sending, with its signing secret', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    await updateEndpoint(w, ep.id, { active: false });
    const d = await deliveryTo(w, ep.id, { type: PING_EVENT });

    const p = expectKind(await prepareAttempt(jobOf(d), 1, at(Date.now())), 'send');

    expect(p.secrets).toEqual([ep.secret]);
    expect(p.endpoint).toMatchObject({ id: ep.id, active: false });
    expect(p.claim.d).toMatchObject({ id: d.id, lease_id: p.claim.leaseId });
  });

  it('settles a delivery claimed after its expiry as EXPIRED, without looking at the endpoint', async () => {
    const w = ws();
    const created = Date.now();
    // No such endpoint: had prepare read it, the outcome would be endpoint-unavailable.
    const d = await deliveryTo(w, 'wh_never_created', { at: created });

    const p = expectKind(await prepareAttempt(jobOf(d), 1, at(created + 24 * HOUR + 1000)), 'record');

    expect(p.outcome).toEqual({ kind: 'expired', error: 'Not delivered within WEBHOOK_DELIVERY_TTL_HOURS' });
  });

  it('puts back a job that arrives before its not_before, without claiming', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    const d = await deliveryTo(w, ep.id);
    const now = Date.now();
    const job = { ...jobOf(d), not_before: new Date(now + 60_000).toISOString() };

    expect(await prepareAttempt(job, 1, at(now))).toEqual({ kind: 'put-back', job, now: new Date(now) });
    expect((await getDelivery(d.id))?.lease_id).toBeUndefined();
  });

  it("puts a second copy back until the first copy's lease ends", async () => {
    const w = ws();
    const ep = await endpointIn(w);
    const d = await deliveryTo(w, ep.id);
    const now = Math.floor(Date.now() / 1000) * 1000;
    expectKind(await prepareAttempt(jobOf(d), 1, at(now)), 'send');

    const again = expectKind(await prepareAttempt(jobOf(d), 1, at(now)), 'put-back');

    expect(again.job).toEqual({
      ...jobOf(d),
      defers: 1,
      not_before: new Date(now + (TIMEOUT_SECONDS + LEASE_MARGIN_SECONDS) * 1000).toISOString(),
    });
  });

  it('skips a copy of a recorded attempt, and resumes its follow-up when SQS hands it out again', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    const d = await deliveryTo(w, ep.id);
    const now = Date.now();
    const p = expectKind(await prepareAttempt(jobOf(d), 1, at(now)), 'send');
    const next = new Date(now + 60_000).toISOString();
    const attempt = {
      cycle: 0,
      attempt: 1,
      started_at: new Date(now).toISOString(),
      duration_ms: 1,
      url: 'u',
      request_headers: {},
    };
    await recordOutcome({
      claim: p.claim,
      attempt,
      outcome: { kind: 'retry', nextAttemptAt: next },
      now: new Date(now),
    });

    expect(await prepareAttempt(jobOf(d), 1, at(now))).toEqual({ kind: 'skip', outcome: 'stale' });
    const resumed = expectKind(await prepareAttempt(jobOf(d), 2, at(now)), 'resume');
    expect(resumed.d).toMatchObject({ status: 'PENDING', attempt_count: 1, next_attempt_at: next });
  });

  it('reports a delivery that no longer exists as missing', async () => {
    const job = { kind: 'deliver' as const, delivery_id: 'dlv_gone', cycle: 0, attempt: 0 };
    expect(await prepareAttempt(job, 1, at(Date.now()))).toEqual({ kind: 'skip', outcome: 'missing' });
  });
});

describe('recordOutcome', () => {
  it('records an attempt under the lease once; recording the same claim again is stale', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    const d = await deliveryTo(w, ep.id);
    const now = new Date();
    const p = expectKind(await prepareAttempt(jobOf(d), 1, at(now.getTime())), 'send');
    const attempt = {
      cycle: 0,
      attempt: 1,
      started_at: now.toISOString(),
      duration_ms: 5,
      url: 'http://127.0.0.1:9/hook',
      request_headers: {},
      status: 500,
    };
    const next = new Date(now.getTime() + 60_000).toISOString();
    const input = { claim: p.claim, attempt, outcome: { kind: 'retry' as const, nextAttemptAt: next }, now };

    expect(await recordOutcome(input)).toEqual({});
    expect(await recordOutcome(input)).toBe(false);
    const after = await getDelivery(d.id);
    expect(after).toMatchObject({
      status: 'PENDING',
      attempt_count: 1,
      next_attempt_at: next,
      last_response_status: 500,
      attempts: [attempt],
    });
    expect(after?.lease_id).toBeUndefined();
  });

  it("records a terminal failure and the endpoint's side of it in one step", async () => {
    setEnv({ ALLOW_LOOPBACK_TARGETS: 'true', WEBHOOK_DISABLE_AFTER_CONSECUTIVE_FAILURES: '1' });
    const w = ws();
    const ep = await endpointIn(w);
    const d = await deliveryTo(w, ep.id);
    const now = new Date();
    const p = expectKind(await prepareAttempt(jobOf(d), 1, at(now.getTime())), 'send');

    const recorded = await recordOutcome({
      claim: p.claim,
      attempt: {
        cycle: 0,
        attempt: 1,
        started_at: now.toISOString(),
        duration_ms: 5,
        url: 'u',
        request_headers: {},
        status: 500,
      },
      outcome: { kind: 'failed', error: 'HTTP 500; the retry policy is NONE', deadLetter: true },
      now,
      knownStreak: p.endpoint.consecutive_failures,
    });

    expect(recorded).toEqual({
      disabled: 'Disabled after 1 consecutive failed deliveries',
      disabledAt: expect.any(String),
    });
    expect(await getDelivery(d.id)).toMatchObject({ status: 'FAILED', dead_letter: true, attempt_count: 1 });
  });
});
