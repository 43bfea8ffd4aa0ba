import { randomBytes } from 'node:crypto';
import {
  DeleteMessageCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sqs } from '#shared/queues.ts';
import { type DeliveryItem, deliveryId, getDelivery } from '#shared/webhooks/deliveries.ts';
import { createEndpoint, getEndpoint, updateEndpoint } from '#shared/webhooks/endpoints.ts';
import { delayFor, resetDlqUrl } from '#shared/webhooks/jobs.ts';
import { redriveDeliveries } from '#shared/webhooks/redrive.ts';
import type { RetryPolicy } from '#shared/webhooks/retry.ts';
import { redeliver, startRecover } from '#shared/webhooks/service.ts';
import { generateSecret } from '#shared/webhooks/signing.ts';
import { defaultDeps, processJob } from '#shared/webhooks/worker.ts';
import { setEnv, useTestSqs, useTestTable } from '#test/helpers/env.ts';
import { useMemorySecrets } from '#test/helpers/secrets.ts';
import { type Behaviour, Clock, pump, type Receiver, startReceiver } from './webhooks-harness.ts';

useTestTable();
const local = useTestSqs();
let receiver: Receiver;
let clock: Clock;
// Controlled time starts at the real time (the fan-out stamps records with it) and only moves forward.
let T0 = Date.now();

const baseEnv = {
  ALLOW_LOOPBACK_TARGETS: 'true',
  WEBHOOK_MAX_RETRIES: '3',
  WEBHOOK_RETRY_BACKOFF_SECONDS: '60',
  WEBHOOK_TIMEOUT_SECONDS: '5',
  WEBHOOK_DELIVERY_TTL_HOURS: '24',
  WEBHOOK_DISABLE_AFTER_CONSECUTIVE_FAILURES: '50',
};

beforeAll(async () => {
  useMemorySecrets();
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver?.close();
});
beforeEach(async () => {
  setEnv(baseEnv);
  resetDlqUrl();
  T0 = Math.floor(Date.now() / 1000) * 1000;
  clock = new Clock(T0);
  receiver.clock = clock;
  // Every test starts with empty queues: the pump drains them exactly (delayed messages count),
  // so a message a test leaves behind (a job delayed by 900 s, a test that failed mid-pump)
  // must not become the next test's work.
  for (const url of [local.current.urls.ingest, local.current.urls.deliveries]) {
    await sqs().send(new PurgeQueueCommand({ QueueUrl: url }));
  }
  await drainDlq();
});

const ws = () => `ws-${randomBytes(4).toString('hex')}`;
let paths = 0;

/** An endpoint on the receiver at a fresh path answering per `behaviour`. */
async function endpointFor(
  workspace: string,
  behaviour: Behaviour,
  opts: { policy?: RetryPolicy; events?: string[]; url?: string } = {},
) {
  const path = `/hook-${++paths}`;
  const secret = generateSecret();
  receiver.on(path, behaviour, secret);
  const { view } = await createEndpoint(
    workspace,
    'u1',
    {
      name: path,
      url: opts.url ?? receiver.url(path),
      secret,
      events: Object.fromEntries((opts.events ?? ['task.created']).map((t) => [t, true])),
      retry_policy: opts.policy ?? 'EXPONENTIAL',
    },
    new Date(clock.t),
  );
  return { id: view.id, path, secret };
}

async function emit(workspace: string, opts: { id?: string; type?: string; copies?: number } = {}) {
  const event = {
    id: opts.id ?? `evt_${randomBytes(6).toString('hex')}`,
    type: opts.type ?? 'task.created',
    workspace_id: workspace,
    occurred_at: new Date(clock.t).toISOString(),
    data: { task_id: 't1', title: 'Hello' },
  };
  for (let i = 0; i < (opts.copies ?? 1); i++) {
    await sqs().send(
      new SendMessageCommand({ QueueUrl: local.current.urls.ingest, MessageBody: JSON.stringify(event) }),
    );
  }
  return event.id;
}

const requestsTo = (path: string) => receiver.received.filter((r) => r.path === path);
const delivery = async (eventId: string, endpointId: string) =>
  (await getDelivery(deliveryId(eventId, endpointId), new Date(clock.t))) as DeliveryItem;
const gaps = (d: DeliveryItem) =>
  d.attempts
    .slice(1)
    .map((a, i) => (Date.parse(a.started_at) - Date.parse(d.attempts[i]?.started_at ?? '')) / 1000);

/** Takes every message out of the deliveries DLQ. */
async function drainDlq(): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const out = await sqs().send(
      new ReceiveMessageCommand({
        QueueUrl: local.current.dlqUrls.deliveries,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
      }),
    );
    const messages = out.Messages ?? [];
    if (!messages.length) return bodies;
    for (const m of messages) {
      bodies.push(m.Body ?? '');
      await sqs().send(
        new DeleteMessageCommand({
          QueueUrl: local.current.dlqUrls.deliveries,
          ReceiptHandle: m.ReceiptHandle ?? '',
        }),
      );
    }
  }
}

describe('webhook delivery pipeline', () => {
  it('delivers a signed request that the standardwebhooks verifier accepts, and records it', async () => {
    const w = ws();
    const ep = await endpointFor(w, () => ({ status: 200 }));
    const eventId = await emit(w);
    await pump({ local: local.current, clock });

    const got = requestsTo(ep.path);
    expect(got).toHaveLength(1);
    expect(got[0]?.verified).toBe(true);
    expect(got[0]?.headers['webhook-id']).toBe(deliveryId(eventId, ep.id));
    expect(JSON.parse(got[0]?.body ?? '')).toEqual({
      type: 'task.created',
      timestamp: new Date(T0).toISOString(),
      data: { task_id: 't1', title: 'Hello' },
    });
    const d = await delivery(eventId, ep.id);
    expect(d.status).toBe('DELIVERED');
    expect(d.attempts[0]).toMatchObject({
      status: 200,
      response_body: 'answer 200',
      url: receiver.url(ep.path),
    });
    expect(d.attempts[0]?.request_headers['webhook-signature']).toMatch(/^v1,/);
    const endpoint = await getEndpoint(w, ep.id);
    expect(endpoint).toMatchObject({ last_delivery_status: 'DELIVERED', consecutive_failures: 0 });
  });

  it('does not deliver to endpoints of other workspaces or not subscribed to the type', async () => {
    const w = ws();
    const other = await endpointFor(ws(), () => ({ status: 200 }));
    const unsubscribed = await endpointFor(w, () => ({ status: 200 }), { events: ['task.deleted'] });
    await emit(w);
    await pump({ local: local.current, clock });
    expect(requestsTo(other.path)).toHaveLength(0);
    expect(requestsTo(unsubscribed.path)).toHaveLength(0);
  });

  it('retries a 500 on the EXPONENTIAL schedule in controlled time, then FAILED with the job in the DLQ', async () => {
    const w = ws();
    const ep = await endpointFor(w, () => ({ status: 500 }));
    const eventId = await emit(w);
    await pump({ local: local.current, clock });

    const d = await delivery(eventId, ep.id);
    expect(d.status).toBe('FAILED');
    expect(d.attempts).toHaveLength(4);
    expect(gaps(d)).toEqual([60, 120, 240]);
    expect(d.last_error).toMatch(/HTTP 500 after 4 attempts/);
    const dlq = (await drainDlq()).map((b) => JSON.parse(b));
    expect(dlq).toContainEqual({ kind: 'dead', delivery_id: d.id, cycle: 0, reason: expect.any(String) });
    expect(requestsTo(ep.path).every((r) => r.verified)).toBe(true);
    expect(new Set(requestsTo(ep.path).map((r) => r.headers['webhook-id']))).toEqual(new Set([d.id]));
  });

  it('spaces retries linearly for LINEAR and makes one attempt for NONE', async () => {
    const w = ws();
    const linear = await endpointFor(w, () => ({ status: 500 }), { policy: 'LINEAR' });
    const none = await endpointFor(w, () => ({ status: 500 }), { policy: 'NONE' });
    const eventId = await emit(w);
    await pump({ local: local.current, clock });
    expect(gaps(await delivery(eventId, linear.id))).toEqual([60, 120, 180]);
    const once = await delivery(eventId, none.id);
    expect(once).toMatchObject({ status: 'FAILED', attempt_count: 1 });
  });

  it('re-delays a job that arrives before its not_before (delays beyond the SQS 15-minute cap)', async () => {
    const job = {
      kind: 'deliver' as const,
      delivery_id: 'dlv_x',
      cycle: 0,
      attempt: 1,
      not_before: new Date(T0 + 1800_000).toISOString(),
    };
    const outcome = await processJob(job, 1, { ...defaultDeps(), now: clock.now });
    expect(outcome).toBe('deferred');
    const out = await sqs().send(
      new ReceiveMessageCommand({
        QueueUrl: local.current.urls.deliveries,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
      }),
    );
    // Still invisible: it was sent with DelaySeconds 900 (the cap), carrying the same not_before.
    expect(out.Messages ?? []).toHaveLength(0);
    expect(delayFor(job.not_before, clock.now())).toBe(900);
    expect(delayFor(new Date(T0 + 120_000).toISOString(), clock.now())).toBe(120);
  });

  it('retries while the receiver is down and records the connection error', async () => {
    const w = ws();
    const ep = await endpointFor(w, () => ({ status: 200 }), {
      policy: 'NONE',
      url: 'http://127.0.0.1:1/down',
    });
    const eventId = await emit(w);
    await pump({ local: local.current, clock });
    const d = await delivery(eventId, ep.id);
    expect(d.status).toBe('FAILED');
    expect(d.attempts[0]?.error).toBe('Connection refused');
    expect(d.attempts[0]?.status).toBeUndefined();
  });

  it('times out a slow receiver after WEBHOOK_TIMEOUT_SECONDS and delivers on the retry', async () => {
    setEnv({ ...baseEnv, WEBHOOK_TIMEOUT_SECONDS: '1' });
    const w = ws();
    const ep = await endpointFor(w, (n) => (n === 0 ? { status: 200, delayMs: 2500 } : { status: 200 }));
    const eventId = await emit(w);
    await pump({ local: local.current, clock });
    const d = await delivery(eventId, ep.id);
    expect(d.status).toBe('DELIVERED');
    expect(d.attempts[0]?.error).toMatch(/Timed out after 1000 ms/);
    expect(d.attempts[1]?.status).toBe(200);
  });

  it('fails at once and disables the endpoint on 410', async () => {
    const w = ws();
    const ep = await endpointFor(w, () => ({ status: 410 }));
    const first = await emit(w);
    await pump({ local: local.current, clock });
    expect(await delivery(first, ep.id)).toMatchObject({ status: 'FAILED', attempt_count: 1 });
    expect(await getEndpoint(w, ep.id)).toMatchObject({
      active: false,
      disabled_reason: expect.stringContaining('410'),
    });
    await emit(w);
    await pump({ local: local.current, clock });
    expect(requestsTo(ep.path)).toHaveLength(1);
  });

  it('honours Retry-After on 429', async () => {
    const w = ws();
    const ep = await endpointFor(w, (n) =>
      n === 0 ? { status: 429, headers: { 'retry-after': '600' } } : { status: 200 },
    );
    const eventId = await emit(w);
    await pump({ local: local.current, clock });
    const d = await delivery(eventId, ep.id);
    expect(d.status).toBe('DELIVERED');
    expect(gaps(d)).toEqual([600]);
    expect(d.attempts[0]?.response_headers?.['retry-after']).toBe('600');
  });

  it('marks a delivery EXPIRED when its next retry would fall after WEBHOOK_DELIVERY_TTL_HOURS', async () => {
    setEnv({ ...baseEnv, WEBHOOK_DELIVERY_TTL_HOURS: '1', WEBHOOK_RETRY_BACKOFF_SECONDS: '1500' });
    const w = ws();
    const ep = await endpointFor(w, () => ({ status: 500 }));
    const eventId = await emit(w);
    await pump({ local: local.current, clock });
    const d = await delivery(eventId, ep.id);
    expect(d.status).toBe('EXPIRED');
    // Attempts at 0 and +1500 s; the next (+3000 s) would land after the 1-hour expiry.
    expect(gaps(d)).toEqual([1500]);
    expect(d.last_error).toMatch(/after the delivery's expiry/);
  });

  it('disables an endpoint after WEBHOOK_DISABLE_AFTER_CONSECUTIVE_FAILURES failures and PATCH re-enables it', async () => {
    setEnv({ ...baseEnv, WEBHOOK_DISABLE_AFTER_CONSECUTIVE_FAILURES: '2' });
    const w = ws();
    const ep = await endpointFor(w, () => ({ status: 500 }), { policy: 'NONE' });
    await emit(w);
    await pump({ local: local.current, clock });
    expect(await getEndpoint(w, ep.id)).toMatchObject({ active: true, consecutive_failures: 1 });
    await emit(w);
    await pump({ local: local.current, clock });
    expect(await getEndpoint(w, ep.id)).toMatchObject({
      active: false,
      disabled_reason: 'Disabled after 2 consecutive failed deliveries',
    });
    const view = await updateEndpoint(w, ep.id, { active: true });
    expect(view).toMatchObject({ active: true, disabled_reason: null, stats: { consecutive_failures: 0 } });
  });

  it('redrives a FAILED delivery from the DLQ once, even with duplicate DLQ messages', async () => {
    const w = ws();
    let healthy = false;
    const ep = await endpointFor(w, () => ({ status: healthy ? 200 : 500 }), { policy: 'NONE' });
    const eventId = await emit(w);
    await pump({ local: local.current, clock });
    const dead = await drainDlq();
    expect(dead).toHaveLength(1);
    // Put it back with a second copy of the same message, as at-least-once delivery may produce.
    for (let i = 0; i < 2; i++) {
      await sqs().send(
        new SendMessageCommand({ QueueUrl: local.current.dlqUrls.deliveries, MessageBody: dead[0] }),
      );
    }
    healthy = true;

    const { moved } = await redriveDeliveries({
      client: sqs(),
      dlqUrl: local.current.dlqUrls.deliveries,
      queueUrl: local.current.urls.deliveries,
    });
    await pump({ local: local.current, clock });

    expect(moved).toBe(2);
    const d = await delivery(eventId, ep.id);
    expect(d).toMatchObject({ status: 'DELIVERED', cycle: 1 });
    expect(requestsTo(ep.path).map((r) => r.headers['webhook-id'])).toEqual([d.id, d.id]);
  });

  it('redelivers and recovers finished deliveries with the same webhook-id', async () => {
    const w = ws();
    let healthy = false;
    const ep = await endpointFor(w, () => ({ status: healthy ? 200 : 500 }), { policy: 'NONE' });
    const a = await emit(w);
    const b = await emit(w);
    await pump({ local: local.current, clock });
    healthy = true;

    await redeliver(w, ep.id, deliveryId(a, ep.id), new Date(clock.t));
    await pump({ local: local.current, clock });
    expect(await delivery(a, ep.id)).toMatchObject({ status: 'DELIVERED', cycle: 1 });
    expect(await delivery(b, ep.id)).toMatchObject({ status: 'FAILED', cycle: 0 });

    // The fan-out stamped the deliveries with the real time, which by now may be ahead of the
    // controlled clock (T0 is rounded down, and setup under load takes a while): the recover
    // request comes after them, so "now" is caught up first, else `until` would miss them.
    clock.advanceTo(Date.now());
    const since = new Date(T0 - 60_000).toISOString();
    await startRecover(w, ep.id, { since }, new Date(clock.t + 1000));
    await startRecover(w, ep.id, { since }, new Date(clock.t + 1000));
    await pump({ local: local.current, clock });
    expect(await delivery(b, ep.id)).toMatchObject({ status: 'DELIVERED', cycle: 1 });
    expect(requestsTo(ep.path).filter((r) => r.headers['webhook-id'] === deliveryId(b, ep.id))).toHaveLength(
      2,
    );
  });

  it('ends N events × M endpoints in exactly N×M terminal outcomes despite duplicate messages and a crashed batch', async () => {
    const w = ws();
    const endpoints = [
      await endpointFor(w, () => ({ status: 200 })),
      await endpointFor(w, () => ({ status: 500 }), { policy: 'NONE' }),
      await endpointFor(w, (n) => ({ status: n % 2 === 0 ? 503 : 200 })),
    ];
    const events: string[] = [];
    for (let i = 0; i < 6; i++) events.push(await emit(w, { copies: 2 }));
    let posts = 0;
    const crashedAfterPost = new Set<string>();
    const run = await pump({
      local: local.current,
      clock,
      crashBatch: (n) => n === 1,
      deps: {
        afterPost: (id: string) => {
          posts++;
          if (posts === 4) {
            crashedAfterPost.add(id);
            throw new Error('worker died after the POST');
          }
        },
      },
    });

    expect(run.crashes).toBe(1);
    expect(crashedAfterPost.size).toBe(1);
    const all = await Promise.all(events.flatMap((e) => endpoints.map((ep) => delivery(e, ep.id))));
    expect(all.filter(Boolean)).toHaveLength(18);
    const byStatus = (i: number) =>
      all.filter((d) => d.endpoint_id === endpoints[i]?.id).map((d) => d.status);
    expect(byStatus(0)).toEqual(Array(6).fill('DELIVERED'));
    expect(byStatus(1)).toEqual(Array(6).fill('FAILED'));
    expect(byStatus(2)).toEqual(Array(6).fill('DELIVERED'));

    // No delivered delivery was POSTed twice, except the one whose worker died between POST and record.
    const okIds = receiver.received
      .filter((r) => r.path === endpoints[0]?.path)
      .map((r) => r.headers['webhook-id'] as string);
    expect(new Set(okIds).size).toBe(6);
    const extra = okIds.length - 6;
    expect(extra).toBe([...crashedAfterPost].filter((id) => okIds.includes(id)).length);
    expect(
      receiver.received.filter((r) => endpoints.some((e) => e.path === r.path)).every((r) => r.verified),
    ).toBe(true);
  });
});
