import { randomBytes } from 'node:crypto';
import { PurgeQueueCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { DeleteCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handler } from '#functions/workers/reconcile-jobs.ts';
import { workers } from '#functions/workers.ts';
import { db, tableName } from '#shared/db/client.ts';
import { keys } from '#shared/db/keys.ts';
import { sqs } from '#shared/queues.ts';
import { runWithGrants } from '#shared/runtime-grants.ts';
import { type ExpiryMarker, expiryMarkerKey } from '#shared/webhooks/delivery-markers.ts';
import { compressPayload, payloadOf } from '#shared/webhooks/delivery-payload.ts';
import {
  claimAttempt,
  createDelivery,
  type DeliveryItem,
  getDelivery,
  recordAttempt,
} from '#shared/webhooks/delivery-store.ts';
import { createEndpoint } from '#shared/webhooks/endpoints.ts';
import { type DeliverJob, enqueueJobs, resetDlqUrl } from '#shared/webhooks/jobs.ts';
import { MAX_REQUEUES, OVERDUE_AFTER_SECONDS, requeueLostDeliveries } from '#shared/webhooks/reconcile.ts';
import { defaultDeps, processJob, type WorkerDeps } from '#shared/webhooks/worker.ts';
import { setEnv, useTestSqs, useTestTable } from '#test/helpers/env.ts';
import { useMemorySecrets } from '#test/helpers/secrets.ts';
import { type Behaviour, Clock, pump, type Receiver, startReceiver } from './webhooks-harness.ts';

/**
 * The reconciler (W7 due index) against DynamoDB Local and the SQS emulator: a PENDING delivery
 * whose job was lost is found through the index and its job put back, once.
 */
useTestTable();
const local = useTestSqs();
let receiver: Receiver;
let clock: Clock;
let T0 = Date.now();
const MIN = 60_000;
const HOUR = 60 * MIN;
const OVERDUE = OVERDUE_AFTER_SECONDS * 1000;

beforeAll(async () => {
  useMemorySecrets();
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver?.close();
});
beforeEach(async () => {
  setEnv({
    ALLOW_LOOPBACK_TARGETS: 'true',
    WEBHOOK_MAX_RETRIES: '3',
    WEBHOOK_RETRY_BACKOFF_SECONDS: '60',
    WEBHOOK_TIMEOUT_SECONDS: '5',
    WEBHOOK_DELIVERY_TTL_HOURS: '24',
  });
  resetDlqUrl();
  T0 = Math.floor(Date.now() / 1000) * 1000;
  clock = new Clock(T0);
  receiver.clock = clock;
  for (const url of [local.current.urls.ingest, local.current.urls.deliveries]) {
    await sqs().send(new PurgeQueueCommand({ QueueUrl: url }));
  }
});

let paths = 0;
const deps = (): WorkerDeps => ({
  ...defaultDeps(),
  now: clock.now,
  random: () => 0.5,
  maxSqsDelaySeconds: 0,
});
const requestsTo = (path: string) => receiver.received.filter((r) => r.path === path);

/** A delivery (PENDING, first attempt due) to an endpoint on the receiver answering per `behaviour`. */
async function pendingDelivery(behaviour: Behaviour) {
  const workspace = `ws-${randomBytes(4).toString('hex')}`;
  const path = `/reconcile-${++paths}`;
  const { view, secret } = await createEndpoint(
    workspace,
    'u1',
    {
      name: path,
      url: receiver.url(path),
      events: { 'task.created': true },
      retry_policy: 'LINEAR',
    },
    new Date(clock.t),
  );
  receiver.on(path, behaviour, secret);
  const event = {
    id: `evt_${randomBytes(6).toString('hex')}`,
    type: 'task.created',
    workspace_id: workspace,
    occurred_at: new Date(clock.t).toISOString(),
    data: { task_id: 't1' },
  };
  const { item } = await createDelivery({
    event,
    endpoint: { id: view.id, workspace_id: workspace },
    payloadGz: compressPayload(payloadOf(event)),
    now: new Date(clock.t),
  });
  created.push(item);
  return { d: item, path };
}

/** Deliveries a test created: ended after it, so the next test's reconciler runs see only its own. */
const created: DeliveryItem[] = [];
afterEach(async () => {
  for (const d of created.splice(0)) {
    const now = await getDelivery(d.id, new Date(Date.now() + 48 * HOUR));
    if (now?.status === 'PENDING')
      await recordAttempt({ d: now, status: 'FAILED', now: new Date(), error: 'test' });
    await db().send(new DeleteCommand({ TableName: tableName(), Key: expiryMarkerKey(d.expires_at, d.id) }));
  }
});

/** Makes the delivery's first attempt; its retry job goes on the queue, and is then lost (purged). */
async function firstAttemptThenLoseTheRetry(d: DeliveryItem) {
  expect(await processJob({ kind: 'deliver', delivery_id: d.id, cycle: 0, attempt: 0 }, 1, deps())).toBe(
    'retry-scheduled',
  );
  expect(await queuedJobs()).toHaveLength(1);
  await sqs().send(new PurgeQueueCommand({ QueueUrl: local.current.urls.deliveries }));
  return (await getDelivery(d.id, new Date(clock.t))) as DeliveryItem;
}

/** The jobs waiting on the deliveries queue (peeked: received with no visibility timeout). */
async function queuedJobs(): Promise<DeliverJob[]> {
  const out = await sqs().send(
    new ReceiveMessageCommand({
      QueueUrl: local.current.urls.deliveries,
      MaxNumberOfMessages: 10,
      VisibilityTimeout: 0,
      WaitTimeSeconds: 0,
    }),
  );
  return (out.Messages ?? []).map((m) => JSON.parse(m.Body ?? '{}') as DeliverJob);
}

async function markerOf(d: Pick<DeliveryItem, 'id' | 'expires_at'>) {
  const out = await db().send(
    new GetCommand({
      TableName: tableName(),
      Key: expiryMarkerKey(d.expires_at, d.id),
      ConsistentRead: true,
    }),
  );
  return out.Item as ExpiryMarker | undefined;
}

const reconcileAt = (ms: number) => requeueLostDeliveries({ now: new Date(ms) });

describe('webhook deliveries reconciler', () => {
  it('indexes a new delivery as due at its creation, in the expiry marker it already writes', async () => {
    const { d } = await pendingDelivery(() => ({ status: 200 }));
    expect(await markerOf(d)).toMatchObject({
      ...keys.webhookDeliveryDue(d.created_at, d.id),
      due_at: d.created_at,
      entity: 'WebhookDeliveryExpiry',
    });
  });

  it('re-queues a delivery whose retry job was lost once it is overdue, exactly once, and it is delivered', async () => {
    const { d, path } = await pendingDelivery((n) => ({ status: n === 0 ? 500 : 200 }));
    const waiting = await firstAttemptThenLoseTheRetry(d);
    const due = Date.parse(waiting.next_attempt_at as string);
    expect(due).toBe(T0 + 60_000);

    // Due, but not overdue yet: left alone (the retry may just be late).
    const early = await reconcileAt(due + OVERDUE - 1000);
    expect(early).toMatchObject({ requeued: 0 });
    expect(await queuedJobs()).toEqual([]);

    const run = await reconcileAt(due + OVERDUE + 1000);
    expect(run).toMatchObject({ requeued: 1, busy: 0 });
    expect(await queuedJobs()).toEqual([{ kind: 'deliver', delivery_id: d.id, cycle: 0, attempt: 1 }]);
    expect(await markerOf(d)).toMatchObject({
      requeues: 1,
      due_at: new Date(due + OVERDUE + 1000).toISOString(),
    });

    // A second run (even a while later) does nothing: the marker now says "look again one period on".
    expect(await reconcileAt(due + OVERDUE + 1000)).toMatchObject({ requeued: 0, markers: 0 });
    expect(await reconcileAt(due + OVERDUE + 5 * MIN)).toMatchObject({ requeued: 0, markers: 0 });
    expect(await queuedJobs()).toHaveLength(1);

    clock.advanceTo(due + OVERDUE + 2000);
    const delivered = await pump({ local: local.current, clock });
    expect(delivered.outcomes).toEqual(['delivered']);
    expect(requestsTo(path)).toHaveLength(2);
    expect(await getDelivery(d.id, new Date(clock.t))).toMatchObject({
      status: 'DELIVERED',
      attempt_count: 2,
    });
    expect(await markerOf(d)).toBeUndefined();
    expect(await reconcileAt(clock.t + 2 * OVERDUE)).toMatchObject({ requeued: 0, markers: 0 });
  });

  it('re-queues a lost first attempt too (due at creation)', async () => {
    const { d, path } = await pendingDelivery(() => ({ status: 200 }));
    expect(await reconcileAt(T0 + OVERDUE - 1000)).toMatchObject({ requeued: 0 });
    expect(await reconcileAt(T0 + OVERDUE + 1000)).toMatchObject({ requeued: 1 });
    expect(await queuedJobs()).toEqual([{ kind: 'deliver', delivery_id: d.id, cycle: 0, attempt: 0 }]);
    await pump({ local: local.current, clock });
    expect(requestsTo(path)).toHaveLength(1);
  });

  it('moves the index up to a retry due later instead of re-queuing it, and re-queues it once that is overdue', async () => {
    const { d } = await pendingDelivery((n) =>
      n === 0 ? { status: 503, headers: { 'retry-after': '7200' } } : { status: 200 },
    );
    const waiting = await firstAttemptThenLoseTheRetry(d);
    expect(waiting.next_attempt_at).toBe(new Date(T0 + 2 * HOUR).toISOString());

    // The marker still says "due at creation": found, but the delivery is not overdue.
    const caughtUp = await reconcileAt(T0 + OVERDUE + 1000);
    expect(caughtUp).toMatchObject({ markers: 1, caughtUp: 1, requeued: 0 });
    expect(await markerOf(d)).toMatchObject({ due_at: waiting.next_attempt_at });
    expect(await reconcileAt(T0 + HOUR)).toMatchObject({ markers: 0, requeued: 0 });
    expect(await queuedJobs()).toEqual([]);

    expect(await reconcileAt(T0 + 2 * HOUR + OVERDUE + 1000)).toMatchObject({ requeued: 1 });
    expect(await queuedJobs()).toEqual([{ kind: 'deliver', delivery_id: d.id, cycle: 0, attempt: 1 }]);
  });

  it(`gives up on a delivery whose job keeps getting lost after ${MAX_REQUEUES} re-queues, leaving it to expire`, async () => {
    const { d } = await pendingDelivery(() => ({ status: 200 }));
    let at = T0;
    for (let n = 1; n <= MAX_REQUEUES; n++) {
      at += OVERDUE + 1000;
      expect(await reconcileAt(at), `re-queue ${n}`).toMatchObject({ requeued: 1 });
      // The job is lost again (a poison job ends in the DLQ; here it is purged).
      await sqs().send(new PurgeQueueCommand({ QueueUrl: local.current.urls.deliveries }));
    }
    at += OVERDUE + 1000;
    expect(await reconcileAt(at)).toMatchObject({ requeued: 0, abandoned: 1 });
    expect(await queuedJobs()).toEqual([]);
    // Out of the due index for good; the expiry marker stays for the sweeper.
    expect(await reconcileAt(at + 2 * OVERDUE)).toMatchObject({ markers: 0, requeued: 0 });
    expect(await markerOf(d)).toMatchObject({ delivery_id: d.id });
    expect(await getDelivery(d.id, new Date(at))).toMatchObject({ status: 'PENDING' });
  });

  it('re-queues once when two runs race', async () => {
    const { d } = await pendingDelivery(() => ({ status: 200 }));
    const runs = await Promise.all([reconcileAt(T0 + OVERDUE + 1000), reconcileAt(T0 + OVERDUE + 1000)]);
    expect(runs[0].requeued + runs[1].requeued).toBe(1);
    expect(await queuedJobs()).toEqual([{ kind: 'deliver', delivery_id: d.id, cycle: 0, attempt: 0 }]);
  });

  it('keeps a duplicate harmless: the original job and the re-queued one make one POST', async () => {
    const { d, path } = await pendingDelivery(() => ({ status: 200, delayMs: 50 }));
    // The original job was only late, not lost: it is still on the queue when the reconciler runs.
    await enqueueJobs([{ kind: 'deliver', delivery_id: d.id, cycle: 0, attempt: 0 }]);
    expect(await reconcileAt(T0 + OVERDUE + 1000)).toMatchObject({ requeued: 1 });
    expect(await queuedJobs()).toHaveLength(2);

    clock.advanceTo(T0 + OVERDUE + 2000);
    const run = await pump({ local: local.current, clock });

    expect(run.outcomes.filter((o) => o === 'delivered')).toHaveLength(1);
    expect(run.outcomes.filter((o) => o !== 'delivered' && o !== 'deferred')).toEqual(['stale']);
    expect(requestsTo(path)).toHaveLength(1);
    expect(await getDelivery(d.id, new Date(clock.t))).toMatchObject({
      status: 'DELIVERED',
      attempt_count: 1,
    });
  });

  it('leaves alone a delivery whose attempt holds its lease, and one past its expiry (the sweeper’s)', async () => {
    const leased = await pendingDelivery(() => ({ status: 200 }));
    const at = new Date(T0 + OVERDUE + 1000);
    expect(await claimAttempt({ id: leased.d.id, cycle: 0, attempt: 0 }, 'lease-1', at, 60)).toBeDefined();
    expect(await reconcileAt(at.getTime() + 1000)).toMatchObject({ busy: 1, requeued: 0 });

    const old = await pendingDelivery(() => ({ status: 200 }));
    // Its expiry passed: only the expiry sweeper ends it (EXPIRED); nothing is re-queued.
    const expiring = await requeueLostDeliveries({ now: new Date(T0 + 24 * HOUR + 1000) });
    expect(expiring).toMatchObject({ requeued: 0 });
    expect(expiring.expiring).toBeGreaterThanOrEqual(1);
    expect(await markerOf(old.d)).toMatchObject({ due_at: old.d.created_at });
    expect(await queuedJobs()).toEqual([]);
  });

  it('runs as the scheduled reconcileJobs worker with exactly its grants', async () => {
    clock = new Clock(Date.now() - OVERDUE - MIN); // created 11 minutes ago, its job lost
    const { d } = await pendingDelivery(() => ({ status: 200 }));
    const worker = workers.find((w) => w.id === 'reconcileJobs')!;
    const stats = (await runWithGrants(worker.grants, () => handler({}))) as Record<
      string,
      { requeued: number }
    >;
    expect(stats['webhooks.deliveries']?.requeued).toBe(1);
    expect(await queuedJobs()).toEqual([{ kind: 'deliver', delivery_id: d.id, cycle: 0, attempt: 0 }]);
  });

  it('takes a marker whose delivery is gone out of the due index, leaving it for the expiry sweeper', async () => {
    const { d } = await pendingDelivery(() => ({ status: 200 }));
    await db().send(new DeleteCommand({ TableName: tableName(), Key: { pk: d.pk, sk: d.sk } }));

    expect(await reconcileAt(T0 + OVERDUE + 1000)).toMatchObject({ dropped: 1, requeued: 0 });
    const marker = await markerOf(d);
    expect(marker).toMatchObject({ delivery_id: d.id });
    expect(marker?.gsi1pk).toBeUndefined();
    expect(await reconcileAt(T0 + OVERDUE + 2000)).toMatchObject({ markers: 0 });
  });
});
