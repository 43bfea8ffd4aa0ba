/**
 * The delivery worker's stages one at a time, without DynamoDB: send against a fake requester and
 * the real pinned client on 127.0.0.1, assess and the record's mapping as pure functions, follow-up
 * against a mocked SQS client. (prepare and record against DynamoDB Local: the integration tests.)
 */
import 'aws-sdk-client-mock-vitest/extend';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  closePooledAgents,
  type PinnedRequest,
  type PinnedRequester,
  requestPinned,
} from '#shared/net/pinned-http.ts';
import { type ResolvedAddress, setResolver } from '#shared/net/url-guard.ts';
import { compressPayload, payloadOf, payloadText } from '#shared/webhooks/delivery-payload.ts';
import type { DeliveryItem, StoredAttempt } from '#shared/webhooks/delivery-store.ts';
import { generateSecret } from '#shared/webhooks/signing.ts';
import {
  type AttemptOutcome,
  assessAttempt,
  attemptRecordOf,
  type Claim,
  followUp,
  type SentAttempt,
  sendAttempt,
} from '#shared/webhooks/worker.ts';
import { setEnv } from '#test/helpers/env.ts';

const sqsMock = mockClient(SQSClient);
afterAll(() => sqsMock.restore());

const QUEUE = 'http://sqs.local/000000000000/deliveries';
const DLQ = 'http://sqs.local/000000000000/deliveries-dlq';
const HOUR = 3600_000;

beforeEach(() => {
  setEnv({
    ALLOW_LOOPBACK_TARGETS: 'true',
    WEBHOOK_TIMEOUT_SECONDS: '5',
    WEBHOOK_MAX_RETRIES: '3',
    WEBHOOK_RETRY_BACKOFF_SECONDS: '60',
    DELIVERY_QUEUE_URL: QUEUE,
    DELIVERY_DLQ_URL: DLQ,
  });
});
afterEach(() => setResolver(undefined));

/** A PENDING delivery created at `at`, `attemptsMade` attempts into its first cycle. */
function deliveryAt(at: number, attemptsMade = 0): DeliveryItem {
  const iso = new Date(at).toISOString();
  return {
    pk: 'DELIVERY#dlv_stages',
    sk: 'DELIVERY',
    gsi1pk: 'WEBHOOK#wh_stages',
    gsi1sk: `${iso}#dlv_stages`,
    entity: 'WebhookDelivery',
    id: 'dlv_stages',
    endpoint_id: 'wh_stages',
    workspace_id: 'ws_stages',
    event_id: 'evt_stages',
    event_type: 'task.created',
    payload_gz: compressPayload(
      payloadOf({ type: 'task.created', occurred_at: iso, data: { task_id: 't1' } }),
    ),
    status: 'PENDING',
    cycle: 0,
    attempt_count: attemptsMade,
    attempts: [],
    created_at: iso,
    updated_at: iso,
    expires_at: new Date(at + 24 * HOUR).toISOString(),
    next_attempt_at: iso,
    ttl: Math.floor(at / 1000) + 30 * 86400,
  };
}

const claimOf = (d: DeliveryItem, now = new Date()): Claim => ({ d, leaseId: 'lease-1', now });

/** A requester that answers `answer` and records what it was asked to send. */
function fakePost(answer: Partial<Awaited<ReturnType<PinnedRequester>>> = {}) {
  const calls: PinnedRequest[] = [];
  const post: PinnedRequester = async (req) => {
    calls.push(req);
    return { status: 200, headers: {}, body: 'ok', bodyTruncated: false, durationMs: 7, ...answer };
  };
  return { calls, post };
}

/** Plays DNS for the tests: `host` answers `addresses`, or never answers. */
function dns(host: string, addresses: string[] | 'hang') {
  setResolver(async (asked) => {
    if (asked !== host) throw new Error('ENOTFOUND');
    if (addresses === 'hang') return new Promise<ResolvedAddress[]>(() => {});
    return addresses.map((address) => ({ address, family: 4 as const }));
  });
}

describe('sendAttempt', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    // /slow answers after 3 s; anything else at once.
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.url === '/slow') setTimeout(() => res.end('late'), 3000);
        else res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await closePooledAgents();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('POSTs the payload signed with every secret to the checked address and reports the answer', async () => {
    const d = deliveryAt(Date.now(), 1);
    const claim = claimOf(d);
    const [current, previous] = [generateSecret(), generateSecret()];
    const fake = fakePost({ status: 503, headers: { 'retry-after': '120' }, body: 'busy', durationMs: 12 });

    const sent = await sendAttempt(
      { claim, endpoint: { url: `http://127.0.0.1:${port}/hook` }, secrets: [current, previous] },
      { post: fake.post },
    );

    expect(fake.calls).toHaveLength(1);
    const req = fake.calls[0] as PinnedRequest;
    expect(req.url.href).toBe(`http://127.0.0.1:${port}/hook`);
    expect(req.address).toEqual({ address: '127.0.0.1', family: 4 });
    expect(req.body).toBe(payloadText(d));
    expect(req.timeoutMs).toBeGreaterThan(0);
    expect(req.timeoutMs).toBeLessThanOrEqual(5000);
    for (const secret of [current, previous]) {
      expect(() => new Webhook(secret).verify(req.body ?? '', req.headers)).not.toThrow();
    }
    expect(req.headers).toMatchObject({
      'content-type': 'application/json',
      'user-agent': 'PronaFlow-Webhooks/1.0',
      'webhook-id': d.id,
      'webhook-timestamp': String(Math.floor(claim.now.getTime() / 1000)),
    });
    expect(sent).toEqual({
      posted: true,
      retryAfter: '120',
      attempt: {
        cycle: 0,
        attempt: 2,
        started_at: claim.now.toISOString(),
        duration_ms: 12,
        url: `http://127.0.0.1:${port}/hook`,
        request_headers: req.headers,
        status: 503,
        response_headers: { 'retry-after': '120' },
        response_body: 'busy',
        response_truncated: false,
        error: undefined,
      },
    });
  });

  it('reports a receiver that outlasts WEBHOOK_TIMEOUT_SECONDS as a timed-out attempt, without throwing', async () => {
    setEnv({ ALLOW_LOOPBACK_TARGETS: 'true', WEBHOOK_TIMEOUT_SECONDS: '1' });
    const input = {
      claim: claimOf(deliveryAt(Date.now())),
      endpoint: { url: `http://127.0.0.1:${port}/slow` },
      secrets: [generateSecret()],
    };

    const sent = await sendAttempt(input, { post: requestPinned });

    expect(sent.posted).toBe(true);
    expect(sent.refused).toBeUndefined();
    expect(sent.attempt.error).toMatch(/^Timed out after \d+ ms$/);
    expect(sent.attempt.status).toBeUndefined();
    expect(sent.attempt.response_body).toBeUndefined();
    expect(sent.attempt.duration_ms).toBeGreaterThanOrEqual(900);
    expect(sent.attempt.request_headers['webhook-signature']).toMatch(/^v1,/);
  });

  it('reports a refused connection as the attempt error', async () => {
    const sent = await sendAttempt(
      {
        claim: claimOf(deliveryAt(Date.now())),
        endpoint: { url: 'http://127.0.0.1:1/down' },
        secrets: [generateSecret()],
      },
      { post: requestPinned },
    );
    expect(sent).toMatchObject({ posted: true, attempt: { error: 'Connection refused' } });
    expect(sent.attempt.status).toBeUndefined();
  });

  it('reports DNS that does not answer within the deadline as a transient error, with no request', async () => {
    setEnv({ ALLOW_LOOPBACK_TARGETS: 'true', WEBHOOK_TIMEOUT_SECONDS: '1' });
    dns('slow-dns.example.com', 'hang');
    const fake = fakePost();

    const sent = await sendAttempt(
      {
        claim: claimOf(deliveryAt(Date.now())),
        endpoint: { url: 'https://slow-dns.example.com/hook' },
        secrets: [generateSecret()],
      },
      { post: fake.post },
    );

    expect(fake.calls).toEqual([]);
    expect(sent.posted).toBe(false);
    expect(sent.refused).toBeUndefined();
    expect(sent.attempt.error).toMatch(/^Resolving slow-dns\.example\.com timed out after \d+ ms$/);
    expect(sent.attempt.request_headers).toEqual({});
  });

  it('refuses a host that resolves to a private address, with no request', async () => {
    dns('rebind.example.com', ['10.0.0.1']);
    const fake = fakePost();

    const sent = await sendAttempt(
      {
        claim: claimOf(deliveryAt(Date.now())),
        endpoint: { url: 'https://rebind.example.com/hook' },
        secrets: [generateSecret()],
      },
      { post: fake.post },
    );

    expect(fake.calls).toEqual([]);
    expect(sent.posted).toBe(false);
    expect(sent.refused).toMatch(/^Refused target: .*10\.0\.0\.1/);
    expect(sent.attempt.error).toBe(sent.refused);
  });
});

describe('assessAttempt', () => {
  const now = new Date('2026-05-01T10:00:00.000Z');
  const d = (attemptsMade = 0, expiresInMs = 24 * HOUR) => ({
    attempt_count: attemptsMade,
    expires_at: new Date(now.getTime() + expiresInMs).toISOString(),
  });
  const answered = (status?: number, more: Partial<SentAttempt> & { error?: string } = {}) => ({
    attempt: { status, error: more.error } as StoredAttempt,
    retryAfter: more.retryAfter,
    refused: more.refused,
  });
  const assess = (
    sent: ReturnType<typeof answered>,
    delivery = d(),
    policy: 'EXPONENTIAL' | 'LINEAR' | 'NONE' = 'EXPONENTIAL',
  ) => assessAttempt({ d: delivery, endpoint: { retry_policy: policy }, sent, now, random: () => 0.5 });

  it('delivers on 2xx', () => {
    expect(assess(answered(204))).toEqual({ kind: 'delivered' });
  });

  it('schedules the first retry of a 500 one backoff ahead', () => {
    expect(assess(answered(500))).toEqual({ kind: 'retry', nextAttemptAt: '2026-05-01T10:01:00.000Z' });
  });

  it('waits what Retry-After asks on 429', () => {
    expect(assess(answered(429, { retryAfter: '600' }))).toEqual({
      kind: 'retry',
      nextAttemptAt: '2026-05-01T10:10:00.000Z',
    });
  });

  it('fails into the DLQ once the retries are used up', () => {
    expect(assess(answered(500), d(3))).toEqual({
      kind: 'failed',
      error: 'HTTP 500 after 4 attempts',
      deadLetter: true,
      disableEndpoint: undefined,
    });
  });

  it('fails at once and disables the endpoint on 410, outside the DLQ', () => {
    expect(assess(answered(410))).toEqual({
      kind: 'failed',
      error: 'The endpoint answered 410 Gone',
      deadLetter: false,
      disableEndpoint: 'The endpoint answered 410 Gone',
    });
  });

  it('fails a refused target at once, outside the DLQ', () => {
    const refused = 'Refused target: The host x resolves to a private address';
    expect(assess(answered(undefined, { error: refused, refused }))).toMatchObject({
      kind: 'failed',
      error: refused,
      deadLetter: false,
    });
  });

  it('expires a delivery whose next retry would fall after its expiry', () => {
    expect(assess(answered(undefined, { error: 'Timed out after 5000 ms' }), d(0, 30_000))).toEqual({
      kind: 'expired',
      error: "Timed out after 5000 ms; the next retry would fall after the delivery's expiry",
    });
  });
});

describe('attemptRecordOf', () => {
  const now = new Date('2026-05-01T10:00:00.000Z');
  const claim = claimOf(deliveryAt(now.getTime()), now);
  const attempt = {
    cycle: 0,
    attempt: 1,
    started_at: now.toISOString(),
    duration_ms: 3,
    url: 'u',
    request_headers: {},
  };

  it('records a retry as PENDING with its next attempt time, under the lease', () => {
    const outcome: AttemptOutcome = { kind: 'retry', nextAttemptAt: '2026-05-01T10:01:00.000Z' };
    expect(attemptRecordOf({ claim, attempt, outcome, now, knownStreak: 4 })).toEqual({
      d: claim.d,
      leaseId: 'lease-1',
      attempt,
      now,
      status: 'PENDING',
      nextAttemptAt: '2026-05-01T10:01:00.000Z',
    });
  });

  it('records a failure with its DLQ flag, the disable and the streak prepare read', () => {
    const outcome: AttemptOutcome = {
      kind: 'failed',
      error: 'gone',
      deadLetter: false,
      disableEndpoint: 'gone',
    };
    expect(attemptRecordOf({ claim, attempt, outcome, now, knownStreak: 4 })).toMatchObject({
      status: 'FAILED',
      error: 'gone',
      deadLetter: false,
      disableEndpoint: 'gone',
      knownStreak: 4,
    });
  });

  it('records an unavailable endpoint as FAILED without an attempt', () => {
    const outcome: AttemptOutcome = { kind: 'endpoint-unavailable', error: 'The endpoint was deleted' };
    const record = attemptRecordOf({ claim, outcome, now });
    expect(record).toMatchObject({ status: 'FAILED', error: 'The endpoint was deleted', leaseId: 'lease-1' });
    expect(record.attempt).toBeUndefined();
  });
});

describe('followUp', () => {
  beforeEach(() => {
    sqsMock.reset();
    sqsMock.on(SendMessageCommand).resolves({ MessageId: 'm1' });
  });

  const now = new Date('2026-05-01T10:00:00.000Z');
  const d = { ...deliveryAt(now.getTime(), 1), cycle: 2 };
  const recorded = (outcome: AttemptOutcome) => ({
    kind: 'recorded' as const,
    d,
    outcome,
    recorded: {},
    now,
  });
  const bodies = () =>
    sqsMock.commandCalls(SendMessageCommand).map((c) => ({
      queue: c.args[0].input.QueueUrl,
      body: JSON.parse(c.args[0].input.MessageBody ?? ''),
      delay: c.args[0].input.DelaySeconds,
    }));

  it('schedules the next attempt of the cycle, delayed until its time', async () => {
    const outcome = await followUp(recorded({ kind: 'retry', nextAttemptAt: '2026-05-01T10:02:00.000Z' }), {
      maxSqsDelaySeconds: 900,
    });

    expect(outcome).toBe('retry-scheduled');
    expect(sqsMock).toHaveReceivedCommandExactlyOnceWith(SendMessageCommand, {
      QueueUrl: QUEUE,
      DelaySeconds: 120,
    });
    expect(bodies()[0]?.body).toEqual({
      kind: 'deliver',
      delivery_id: d.id,
      cycle: 2,
      attempt: 2,
      endpoint_id: d.endpoint_id,
      not_before: '2026-05-01T10:02:00.000Z',
    });
  });

  it('caps the delay of a retry beyond 15 minutes at the SQS maximum (the worker re-delays it)', async () => {
    await followUp(recorded({ kind: 'retry', nextAttemptAt: '2026-05-01T11:00:00.000Z' }), {
      maxSqsDelaySeconds: 900,
    });
    expect(bodies()).toEqual([
      { queue: QUEUE, delay: 900, body: expect.objectContaining({ not_before: '2026-05-01T11:00:00.000Z' }) },
    ]);
  });

  it('parks a FAILED delivery whose retries are used up in the DLQ', async () => {
    const outcome = await followUp(
      recorded({ kind: 'failed', error: 'HTTP 500 after 4 attempts', deadLetter: true }),
      { maxSqsDelaySeconds: 900 },
    );

    expect(outcome).toBe('failed');
    expect(bodies()).toEqual([
      {
        queue: DLQ,
        delay: undefined,
        body: { kind: 'dead', delivery_id: d.id, cycle: 2, reason: 'HTTP 500 after 4 attempts' },
      },
    ]);
  });

  it.each<[string, AttemptOutcome, string]>([
    ['a 410', { kind: 'failed', error: 'gone', deadLetter: false, disableEndpoint: 'gone' }, 'failed'],
    [
      'an unavailable endpoint',
      { kind: 'endpoint-unavailable', error: 'The endpoint was deleted' },
      'failed',
    ],
    ['an expiry', { kind: 'expired', error: 'late' }, 'expired'],
    ['a delivery', { kind: 'delivered' }, 'delivered'],
  ])('sends nothing after %s', async (_, attemptOutcome, jobOutcome) => {
    expect(await followUp(recorded(attemptOutcome), { maxSqsDelaySeconds: 900 })).toBe(jobOutcome);
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
  });

  it('puts an early job back, delayed until its not_before', async () => {
    const job = {
      kind: 'deliver' as const,
      delivery_id: d.id,
      cycle: 2,
      attempt: 1,
      not_before: '2026-05-01T10:05:00.000Z',
    };
    expect(await followUp({ kind: 'put-back', job, now }, { maxSqsDelaySeconds: 900 })).toBe('deferred');
    expect(bodies()).toEqual([{ queue: QUEUE, delay: 300, body: job }]);
  });

  it('re-sends the DLQ message of a dead-lettered delivery when resuming', async () => {
    const failed = {
      ...d,
      status: 'FAILED' as const,
      dead_letter: true,
      last_error: 'HTTP 500 after 4 attempts',
    };
    expect(await followUp({ kind: 'resume', d: failed }, { maxSqsDelaySeconds: 900 })).toBe('resumed');
    expect(bodies()).toEqual([
      {
        queue: DLQ,
        delay: undefined,
        body: { kind: 'dead', delivery_id: d.id, cycle: 2, reason: 'HTTP 500 after 4 attempts' },
      },
    ]);
  });
});
