import { randomBytes } from 'node:crypto';
import {
  DeleteMessageCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { DeleteCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { db, tableName } from '#shared/db/client.ts';
import type { PinnedRequester } from '#shared/net/pinned-http.ts';
import { type ResolvedAddress, setResolver } from '#shared/net/url-guard.ts';
import { sqs } from '#shared/queues.ts';
import { expiryMarkerKey } from '#shared/webhooks/delivery-markers.ts';
import { compressPayload, payloadOf } from '#shared/webhooks/delivery-payload.ts';
import { listDeliveries } from '#shared/webhooks/delivery-queries.ts';
import {
  claimAttempt,
  createDelivery,
  type DeliveryItem,
  deliveryId,
  getDelivery,
} from '#shared/webhooks/delivery-store.ts';
import { createEndpoint, getEndpoint, updateEndpoint } from '#shared/webhooks/endpoints.ts';
import { expireLostDeliveries } from '#shared/webhooks/expiry.ts';
import { delayFor, enqueueJobs, resetDlqUrl } from '#shared/webhooks/jobs.ts';
import { redriveDeliveries } from '#shared/webhooks/redrive.ts';
import type { RetryPolicy } from '#shared/webhooks/retry.ts';
import { redeliver, sendPing, startRecover } from '#shared/webhooks/service.ts';
import { defaultDeps, processJob } from '#shared/webhooks/worker.ts';
import { setEnv, useTestSqs, useTestTable } from '#test/helpers/env.ts';
import { useMemorySecrets } from '#test/helpers/secrets.ts';
import {
  type Behaviour,
  Clock,
  pump,
  pumpInBackground,
  type Receiver,
  startReceiver,
} from './webhooks-harness.ts';

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
afterEach(() => setResolver(undefined));
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
  const { view, secret } = await createEndpoint(
    workspace,
    'u1',
    {
      name: path,
      url: opts.url ?? receiver.url(path),
      events: Object.fromEntries((opts.events ?? ['task.created']).map((t) => [t, true])),
      retry_policy: opts.policy ?? 'EXPONENTIAL',
    },
    new Date(clock.t),
  );
  receiver.on(path, behaviour, secret);
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
    expect(d.attempts[0]?.error).toMatch(/^Timed out after \d+ ms$/);
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

    const redriven = await redriveDeliveries({
      client: sqs(),
      dlqUrl: local.current.dlqUrls.deliveries,
      queueUrl: local.current.urls.deliveries,
    });
    await pump({ local: local.current, clock });

    // The exact copy is deleted rather than moved: one job per delivery per run.
    expect(redriven).toEqual({ moved: 1, duplicates: 1, deferred: 0 });
    const d = await delivery(eventId, ep.id);
    expect(d).toMatchObject({ status: 'DELIVERED', cycle: 1 });
    expect(requestsTo(ep.path).map((r) => r.headers['webhook-id'])).toEqual([d.id, d.id]);
    expect(await drainDlq()).toEqual([]);
  });

  it('restarts each FAILED delivery once per redrive run while the worker parks its new failure in the DLQ', async () => {
    const w = ws();
    // Always fails (the 40th request on succeeds only so that a runaway redrive loop ends).
    const ep = await endpointFor(w, (n) => ({ status: n < 40 ? 500 : 200 }), { policy: 'NONE' });
    const eventId = await emit(w);
    await pump({ local: local.current, clock });
    expect(requestsTo(ep.path)).toHaveLength(1);

    for (let run = 1; run <= 3; run++) {
      // The worker runs alongside, as the Lambda event source does in AWS and `npm start` locally.
      const worker = pumpInBackground({ local: local.current, clock });
      let redriven: Awaited<ReturnType<typeof redriveDeliveries>>;
      try {
        redriven = await redriveDeliveries({
          client: sqs(),
          dlqUrl: local.current.dlqUrls.deliveries,
          queueUrl: local.current.urls.deliveries,
        });
      } finally {
        await worker.stop();
      }
      await pump({ local: local.current, clock });
      expect(redriven.moved).toBe(1);
      // The first attempt and one per run.
      expect(requestsTo(ep.path)).toHaveLength(1 + run);
      expect(await delivery(eventId, ep.id)).toMatchObject({ status: 'FAILED', cycle: run });
    }
    // The failure of the last run waits, visible, for the next one.
    const left = (await drainDlq()).map((b) => JSON.parse(b) as { kind: string; cycle: number });
    expect(left).toEqual([expect.objectContaining({ kind: 'dead', cycle: 3 })]);
  });

  it('leaves a second job of a delivery it already moved for the next run', async () => {
    const w = ws();
    const ep = await endpointFor(w, () => ({ status: 500 }), { policy: 'NONE' });
    const eventId = await emit(w);
    await pump({ local: local.current, clock });
    const [dead] = await drainDlq();
    const id = deliveryId(eventId, ep.id);
    const other = JSON.stringify({ kind: 'deliver', delivery_id: id, cycle: 0, attempt: 0 });
    for (const body of [dead as string, other]) {
      await sqs().send(
        new SendMessageCommand({ QueueUrl: local.current.dlqUrls.deliveries, MessageBody: body }),
      );
    }
    const redriven = await redriveDeliveries({
      client: sqs(),
      dlqUrl: local.current.dlqUrls.deliveries,
      queueUrl: local.current.urls.deliveries,
    });
    expect(redriven).toEqual({ moved: 1, duplicates: 0, deferred: 1 });
    // The one left is visible again at once, for the alarm and the next run.
    expect(await drainDlq()).toHaveLength(1);
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

const HOUR = 3600_000;

/** Plays DNS: each host answers the addresses listed for it now (tests change them between steps). */
function dnsAnswers(answers: Record<string, string[]>) {
  setResolver(async (host) => {
    const list = answers[host];
    if (!list) throw new Error('ENOTFOUND');
    return list.map((address): ResolvedAddress => ({ address, family: address.includes(':') ? 6 : 4 }));
  });
}

/** A requester that records what it was asked to send and sends nothing. */
function spyPoster() {
  const calls: Parameters<PinnedRequester>[0][] = [];
  const post: PinnedRequester = async (input) => {
    calls.push(input);
    return { status: 200, headers: {}, body: '', bodyTruncated: false, durationMs: 0 };
  };
  return { calls, post };
}

async function markerOf(d: Pick<DeliveryItem, 'id' | 'expires_at'>) {
  const out = await db().send(
    new GetCommand({
      TableName: tableName(),
      Key: expiryMarkerKey(d.expires_at, d.id),
      ConsistentRead: true,
    }),
  );
  return out.Item;
}

/** A delivery whose job is never sent (a lost job), created at `at`. */
async function lostDelivery(workspace: string, endpointId: string, at: number) {
  const event = {
    id: `evt_${randomBytes(6).toString('hex')}`,
    type: 'task.created',
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

describe('webhook fan-out of deeply nested events', () => {
  /** Sends an event whose `data.nested` is `levels` arrays deep; returns its message and event ids. */
  async function emitNested(workspace: string, levels: number) {
    const id = `evt_${randomBytes(6).toString('hex')}`;
    const head = JSON.stringify({
      id,
      type: 'task.created',
      workspace_id: workspace,
      occurred_at: new Date(clock.t).toISOString(),
    }).slice(0, -1);
    const body = `${head},"data":{"nested":${'['.repeat(levels)}${']'.repeat(levels)}}}`;
    const out = await sqs().send(
      new SendMessageCommand({ QueueUrl: local.current.urls.ingest, MessageBody: body }),
    );
    return { messageId: out.MessageId as string, eventId: id, bytes: body.length };
  }
  const rejection = async (messageId: string) =>
    (
      await db().send(
        new GetCommand({
          TableName: tableName(),
          Key: { pk: `REJECTED#${new Date().toISOString().slice(0, 10)}`, sk: `MSG#${messageId}` },
        }),
      )
    ).Item;

  it('records an event 20 000 levels deep as an ingest rejection instead of retrying it into the DLQ', async () => {
    const w = ws();
    const ep = await endpointFor(w, () => ({ status: 200 }));
    const { messageId, eventId, bytes } = await emitNested(w, 20_000);
    expect(bytes).toBeGreaterThan(40_000);
    await pump({ local: local.current, clock });

    expect(await rejection(messageId)).toMatchObject({
      entity: 'EventRejection',
      event_id: eventId,
      workspace_id: w,
      reason: expect.stringMatching(/nests deeper than 32 levels/),
    });
    expect(requestsTo(ep.path)).toEqual([]);
    expect(await getDelivery(deliveryId(eventId, ep.id))).toBeUndefined();
    const dlq = await sqs().send(
      new ReceiveMessageCommand({ QueueUrl: local.current.dlqUrls.ingest, WaitTimeSeconds: 0 }),
    );
    expect(dlq.Messages ?? []).toEqual([]);
  });

  it('delivers an event whose data nests exactly to the limit', async () => {
    const w = ws();
    const ep = await endpointFor(w, () => ({ status: 200 }));
    // data (1) > nested's arrays (31): 32 levels.
    const { messageId, eventId } = await emitNested(w, 31);
    await pump({ local: local.current, clock });
    expect(await rejection(messageId)).toBeUndefined();
    expect(await delivery(eventId, ep.id)).toMatchObject({ status: 'DELIVERED' });
    expect(requestsTo(ep.path)).toHaveLength(1);
  });

  it('rejects one level beyond the limit', async () => {
    const w = ws();
    const ep = await endpointFor(w, () => ({ status: 200 }));
    const { messageId } = await emitNested(w, 32);
    await pump({ local: local.current, clock });
    expect(await rejection(messageId)).toMatchObject({ reason: expect.stringMatching(/32 levels/) });
    expect(requestsTo(ep.path)).toEqual([]);
  });
});

describe('webhook delivery-time target checks', () => {
  it.each([['10.0.0.1'], ['169.254.169.254']])(
    'refuses a host that resolved publicly at registration and to %s at delivery: no POST, FAILED at once',
    async (answer) => {
      const answers: Record<string, string[]> = { 'rebind.example.com': ['93.184.216.34'] };
      dnsAnswers(answers);
      const w = ws();
      const ep = await endpointFor(w, () => ({ status: 200 }), { url: 'https://rebind.example.com/hook' });
      answers['rebind.example.com'] = [answer];
      const spy = spyPoster();

      const eventId = await emit(w);
      const run = await pump({ local: local.current, clock, deps: { post: spy.post } });

      expect(spy.calls).toEqual([]);
      const d = await delivery(eventId, ep.id);
      expect(d).toMatchObject({ status: 'FAILED', attempt_count: 1 });
      expect(d.attempts[0]?.error).toMatch(new RegExp(`^Refused target: .*${answer.replaceAll('.', '\\.')}`));
      expect(d.attempts[0]?.status).toBeUndefined();
      expect(d.last_error).toMatch(/^Refused target/);
      expect(run.outcomes).toEqual(['failed']);
      expect(await drainDlq()).toEqual([]);
    },
  );

  it('retries a host that does not resolve (a DNS failure is transient), then FAILED into the DLQ', async () => {
    const answers: Record<string, string[]> = { 'flaky.example.com': ['93.184.216.34'] };
    dnsAnswers(answers);
    const w = ws();
    const ep = await endpointFor(w, () => ({ status: 200 }), { url: 'https://flaky.example.com/hook' });
    delete answers['flaky.example.com'];
    const spy = spyPoster();

    const eventId = await emit(w);
    await pump({ local: local.current, clock, deps: { post: spy.post } });

    const d = await delivery(eventId, ep.id);
    expect(d).toMatchObject({ status: 'FAILED', attempt_count: 4 });
    expect(d.attempts.map((a) => a.error)).toEqual(
      Array(4).fill('The host flaky.example.com could not be resolved'),
    );
    expect(spy.calls).toEqual([]);
    expect(await drainDlq()).toHaveLength(1);
  });

  it('bounds DNS resolution by WEBHOOK_TIMEOUT_SECONDS and retries it like a timeout', async () => {
    setEnv({ ...baseEnv, WEBHOOK_TIMEOUT_SECONDS: '1' });
    let hang = false;
    setResolver(async () => {
      if (hang) return new Promise<ResolvedAddress[]>(() => {});
      return [{ address: '93.184.216.34', family: 4 }];
    });
    const w = ws();
    const ep = await endpointFor(w, () => ({ status: 200 }), {
      url: 'https://slow-dns.example.com/hook',
      policy: 'NONE',
    });
    hang = true;
    const spy = spyPoster();

    const eventId = await emit(w);
    await pump({ local: local.current, clock, deps: { post: spy.post } });

    const d = await delivery(eventId, ep.id);
    expect(d.status).toBe('FAILED');
    expect(d.attempts[0]?.error).toMatch(/^Resolving slow-dns\.example\.com timed out after \d+ ms$/);
    expect(d.last_error).toMatch(/the retry policy is NONE/);
    expect(spy.calls).toEqual([]);
  });

  it('connects to the checked address and sends the URL host name (no second DNS lookup)', async () => {
    dnsAnswers({ 'pinned-hook.invalid': ['127.0.0.1'] });
    const w = ws();
    const path = `/hook-${++paths}`;
    const { view, secret } = await createEndpoint(w, 'u1', {
      name: 'pinned',
      url: `http://pinned-hook.invalid:${receiver.port}${path}`,
      events: { 'task.created': true },
      retry_policy: 'NONE',
    });
    receiver.on(path, () => ({ status: 200 }), secret);

    const eventId = await emit(w);
    await pump({ local: local.current, clock });

    expect(requestsTo(path)).toHaveLength(1);
    expect(requestsTo(path)[0]?.headers.host).toBe(`pinned-hook.invalid:${receiver.port}`);
    expect(await delivery(eventId, view.id)).toMatchObject({ status: 'DELIVERED' });
  });
});

describe('webhook redirects', () => {
  it('does not follow a 302: the target gets no request and the attempt records 302 as a failure', async () => {
    const w = ws();
    const target = `/redirect-target-${++paths}`;
    receiver.on(target, () => ({ status: 200 }));
    const ep = await endpointFor(w, () => ({ status: 302, headers: { location: receiver.url(target) } }), {
      policy: 'NONE',
    });

    const eventId = await emit(w);
    await pump({ local: local.current, clock });

    expect(requestsTo(ep.path)).toHaveLength(1);
    expect(requestsTo(target)).toHaveLength(0);
    const d = await delivery(eventId, ep.id);
    expect(d).toMatchObject({ status: 'FAILED', last_response_status: 302 });
    expect(d.attempts[0]).toMatchObject({
      status: 302,
      response_headers: { location: receiver.url(target) },
    });
    expect(d.last_error).toBe('HTTP 302; the retry policy is NONE');
  });
});

describe('webhook endpoint disable survives a crash right after the record', () => {
  const crashOnceAfterRecord = () => {
    let crashed = false;
    return (_id: string) => {
      if (crashed) return;
      crashed = true;
      throw new Error('worker died after recording');
    };
  };

  it('disables the endpoint on 410 even when the worker dies right after recording the attempt', async () => {
    const w = ws();
    const ep = await endpointFor(w, () => ({ status: 410 }));
    const eventId = await emit(w);
    const run = await pump({ local: local.current, clock, deps: { afterRecord: crashOnceAfterRecord() } });

    expect(run.outcomes).toEqual(['resumed']); // the retried job finds the attempt recorded
    expect(await delivery(eventId, ep.id)).toMatchObject({ status: 'FAILED', attempt_count: 1 });
    expect(await getEndpoint(w, ep.id)).toMatchObject({
      active: false,
      disabled_reason: 'The endpoint answered 410 Gone',
      consecutive_failures: 1,
    });
  });

  it('disables the endpoint at the failure limit even when the worker dies right after recording', async () => {
    setEnv({ ...baseEnv, WEBHOOK_DISABLE_AFTER_CONSECUTIVE_FAILURES: '1' });
    const w = ws();
    const ep = await endpointFor(w, () => ({ status: 500 }), { policy: 'NONE' });
    const eventId = await emit(w);
    const run = await pump({ local: local.current, clock, deps: { afterRecord: crashOnceAfterRecord() } });

    expect(run.outcomes).toEqual(['resumed']); // the retried job re-sends the DLQ message
    expect(await delivery(eventId, ep.id)).toMatchObject({ status: 'FAILED', dead_letter: true });
    expect(await getEndpoint(w, ep.id)).toMatchObject({
      active: false,
      disabled_reason: 'Disabled after 1 consecutive failed deliveries',
    });
    expect(await drainDlq()).toHaveLength(1);
  });

  it('keeps the reason of an endpoint disabled earlier when a ping to it fails with 410', async () => {
    const w = ws();
    const ep = await endpointFor(w, () => ({ status: 410 }));
    await updateEndpoint(w, ep.id, { active: false });
    await sendPing(w, ep.id, new Date(clock.t));
    await pump({ local: local.current, clock });
    expect(await getEndpoint(w, ep.id)).toMatchObject({
      active: false,
      disabled_reason: 'Disabled through the API',
    });
  });
});

describe('webhook delivery expiry', () => {
  it('marks EXPIRED at claim time a delivery whose job arrives after its expiry, without a POST', async () => {
    const w = ws();
    const ep = await endpointFor(w, () => ({ status: 200 }));
    const d = await lostDelivery(w, ep.id, clock.t);
    await enqueueJobs([{ kind: 'deliver', delivery_id: d.id, cycle: 0, attempt: 0 }]);
    clock.advanceTo(clock.t + 24 * HOUR + 1000);

    const run = await pump({ local: local.current, clock });

    expect(run.outcomes).toEqual(['expired']);
    expect(requestsTo(ep.path)).toHaveLength(0);
    const after = (await getDelivery(d.id, new Date(clock.t))) as DeliveryItem;
    expect(after).toMatchObject({
      status: 'EXPIRED',
      attempt_count: 0,
      last_error: 'Not delivered within WEBHOOK_DELIVERY_TTL_HOURS',
    });
    expect(await markerOf(d)).toBeUndefined();
    expect(await getEndpoint(w, ep.id)).toMatchObject({
      consecutive_failures: 1,
      last_delivery_status: 'EXPIRED',
    });
  });

  it('writes an expiry marker for a PENDING delivery and deletes it with the terminal outcome', async () => {
    const w = ws();
    const ep = await endpointFor(w, () => ({ status: 200 }));
    const d = await lostDelivery(w, ep.id, clock.t);
    expect(await markerOf(d)).toMatchObject({ entity: 'WebhookDeliveryExpiry', delivery_id: d.id });

    await enqueueJobs([{ kind: 'deliver', delivery_id: d.id, cycle: 0, attempt: 0 }]);
    await pump({ local: local.current, clock });
    expect(await getDelivery(d.id)).toMatchObject({ status: 'DELIVERED' });
    expect(await markerOf(d)).toBeUndefined();

    // A restart (redeliver) starts a new expiry, with its marker, removed again when it is delivered.
    clock.advanceTo(clock.t + 60_000);
    await redeliver(w, ep.id, d.id, new Date(clock.t));
    const restarted = (await getDelivery(d.id)) as DeliveryItem;
    expect(await markerOf(restarted)).toMatchObject({ expires_at: restarted.expires_at });
    await pump({ local: local.current, clock });
    expect(await markerOf(restarted)).toBeUndefined();
  });

  it('sweeps a PENDING delivery whose job was lost into EXPIRED after its expiry, once', async () => {
    setEnv({ ...baseEnv, WEBHOOK_DISABLE_AFTER_CONSECUTIVE_FAILURES: '2' });
    const w = ws();
    const ep = await endpointFor(w, () => ({ status: 200 }));
    const lost = await lostDelivery(w, ep.id, clock.t);
    const younger = await lostDelivery(w, ep.id, clock.t + 2 * HOUR);

    const early = await expireLostDeliveries({ now: new Date(clock.t + 23 * HOUR) });
    expect(early.expired).toBe(0);
    expect(await getDelivery(lost.id)).toMatchObject({ status: 'PENDING' });

    const sweep = await expireLostDeliveries({ now: new Date(clock.t + 25 * HOUR) });
    expect(sweep.expired).toBeGreaterThanOrEqual(1);
    expect(await getDelivery(lost.id)).toMatchObject({
      status: 'EXPIRED',
      last_error: expect.stringMatching(/job was lost/),
    });
    expect(await getDelivery(younger.id)).toMatchObject({ status: 'PENDING' });
    expect(await markerOf(lost)).toBeUndefined();
    expect(await getEndpoint(w, ep.id)).toMatchObject({ active: true, consecutive_failures: 1 });

    const again = await expireLostDeliveries({ now: new Date(clock.t + 25 * HOUR) });
    expect(again.expired).toBe(0);

    // The second expiry makes two failures in a row: the sweeper's record disables the endpoint too.
    await expireLostDeliveries({ now: new Date(clock.t + 27 * HOUR) });
    expect(await getDelivery(younger.id)).toMatchObject({ status: 'EXPIRED' });
    expect(await getEndpoint(w, ep.id)).toMatchObject({
      active: false,
      disabled_reason: 'Disabled after 2 consecutive failed deliveries',
    });
  });

  it('leaves a delivery alone while an attempt holds its lease', async () => {
    const w = ws();
    const ep = await endpointFor(w, () => ({ status: 200 }));
    const d = await lostDelivery(w, ep.id, clock.t);
    const at = new Date(clock.t + 24 * HOUR + 1000);
    expect(await claimAttempt({ id: d.id, cycle: 0, attempt: 0 }, 'lease-1', at, 60)).toBeDefined();

    const sweep = await expireLostDeliveries({ now: new Date(at.getTime() + 10_000) });

    expect(sweep.busy).toBeGreaterThanOrEqual(1);
    expect(await getDelivery(d.id)).toMatchObject({ status: 'PENDING', lease_id: 'lease-1' });
    expect(await markerOf(d)).toBeDefined();
  });

  it('deletes the marker of a delivery that no longer exists', async () => {
    const w = ws();
    const ep = await endpointFor(w, () => ({ status: 200 }));
    const d = await lostDelivery(w, ep.id, clock.t);
    await db().send(new DeleteCommand({ TableName: tableName(), Key: { pk: d.pk, sk: d.sk } }));

    const sweep = await expireLostDeliveries({ now: new Date(clock.t + 25 * HOUR) });

    expect(sweep.cleaned).toBeGreaterThanOrEqual(1);
    expect(await markerOf(d)).toBeUndefined();
  });
});

describe('webhook delivery history filters', () => {
  it('fills a filtered page across index reads instead of returning it short with a cursor', async () => {
    const w = ws();
    const ep = await endpointFor(w, () => ({ status: 200 }), { events: ['task.created', 'task.deleted'] });
    const make = async (type: string, at: number) => {
      const event = {
        id: `evt_${randomBytes(6).toString('hex')}`,
        type,
        workspace_id: w,
        occurred_at: new Date(at).toISOString(),
        data: {},
      };
      const { item } = await createDelivery({
        event,
        endpoint: { id: ep.id, workspace_id: w },
        payloadGz: compressPayload(payloadOf(event)),
        now: new Date(at),
      });
      return item;
    };
    const oldest = await make('task.deleted', clock.t);
    for (let i = 1; i <= 5; i++) await make('task.created', clock.t + i * 1000);

    const page = await listDeliveries(ep.id, { limit: 2, event_type: 'task.deleted' }, new Date(clock.t));

    expect(page.data.map((d) => d.id)).toEqual([oldest.id]);
    expect(page.next_cursor).toBeNull();
  });
});
