/**
 * The cost of a first-attempt delivery (DynamoDB requests, counted) and the guarantees of the
 * lease-free first attempt: one record per (event, endpoint) whatever the copies, a repeated event
 * re-sending the job only when the first fan-out may have died, snapshots of the endpoint used
 * only while fresh.
 */
import { randomBytes } from 'node:crypto';
import { PurgeQueueCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { DeleteCommand, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { db, tableName } from '#shared/db/client.ts';
import { keys } from '#shared/db/keys.ts';
import { sqs } from '#shared/queues.ts';
import { expiryMarkerKey } from '#shared/webhooks/delivery-markers.ts';
import { compressPayload, payloadOf } from '#shared/webhooks/delivery-payload.ts';
import {
  createDelivery,
  type DeliveryItem,
  deliveryId,
  getDelivery,
  recordAttempt,
  resetSuccessStats,
} from '#shared/webhooks/delivery-store.ts';
import { createEndpoint, findEndpoint, updateEndpoint } from '#shared/webhooks/endpoints.ts';
import { type DeliverJob, resetDlqUrl } from '#shared/webhooks/jobs.ts';
import { defaultDeps, processJob } from '#shared/webhooks/worker.ts';
import { setEnv, useTestSqs, useTestTable } from '#test/helpers/env.ts';
import { useMemorySecrets } from '#test/helpers/secrets.ts';
import { countDynamoCalls } from '#test/helpers/tokens.ts';
import { Clock, pump, type Receiver, startReceiver } from './webhooks-harness.ts';

useTestTable();
const local = useTestSqs();
let receiver: Receiver;
let clock: Clock;

beforeAll(async () => {
  useMemorySecrets();
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver?.close();
});
beforeEach(async () => {
  setEnv({ ALLOW_LOOPBACK_TARGETS: 'true', WEBHOOK_TIMEOUT_SECONDS: '5', WEBHOOK_MAX_RETRIES: '3' });
  resetDlqUrl();
  clock = new Clock(Date.now());
  receiver.clock = clock;
  for (const url of [local.current.urls.ingest, local.current.urls.deliveries]) {
    await sqs().send(new PurgeQueueCommand({ QueueUrl: url }));
  }
});

const ws = () => `ws-${randomBytes(4).toString('hex')}`;
let paths = 0;

async function endpointIn(workspace: string) {
  const path = `/cost-${++paths}`;
  const { view, secret } = await createEndpoint(workspace, 'u1', {
    name: path,
    url: receiver.url(path),
    events: { 'task.created': true },
    retry_policy: 'EXPONENTIAL',
  });
  receiver.on(path, () => ({ status: 200 }), secret);
  return { id: view.id, path };
}

const eventIn = (workspace: string, at = Date.now()) => ({
  id: `evt_${randomBytes(6).toString('hex')}`,
  type: 'task.created',
  workspace_id: workspace,
  occurred_at: new Date(at).toISOString(),
  data: { task_id: 't1' },
});

/** Sends events to the ingest queue in one SendMessageBatch (so one ingest batch takes them all). */
async function emitAll(events: object[]) {
  await sqs().send(
    new SendMessageBatchCommand({
      QueueUrl: local.current.urls.ingest,
      Entries: events.map((e, i) => ({ Id: String(i), MessageBody: JSON.stringify(e) })),
    }),
  );
}

const requestsTo = (path: string) => receiver.received.filter((r) => r.path === path);

describe('the cost of a first-attempt delivery', () => {
  it('makes at most 2 DynamoDB requests per delivery for a batch of events (fan-out included)', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    const events = Array.from({ length: 10 }, () => eventIn(w));
    await emitAll(events);
    const counter = countDynamoCalls();
    try {
      await pump({ local: local.current, clock });
    } finally {
      counter.stop();
    }
    for (const e of events) {
      expect(await getDelivery(deliveryId(e.id, ep.id))).toMatchObject({
        status: 'DELIVERED',
        attempt_count: 1,
      });
    }
    expect(requestsTo(ep.path)).toHaveLength(10);
    // The Query of the endpoints (once per ingest round) and the endpoint's note of unwritten jobs (the fan-out writes no
    // delivery), one conditional PutItem per delivery creating it with its outcome, the status
    // counters and the endpoint's stats: no claim, no endpoint read, no transaction, no marker.
    expect(counter.calls.length / 10).toBeLessThanOrEqual(1.6);
    expect(counter.calls.filter((c) => c === 'PutItemCommand')).toHaveLength(10);
    expect(counter.calls.filter((c) => c === 'GetItemCommand')).toEqual([]);
    expect(counter.calls.filter((c) => c === 'TransactWriteItemsCommand')).toEqual([]);
    expect(counter.calls.filter((c) => c === 'BatchWriteItemCommand')).toEqual([]);
  });
});

describe('the success path', () => {
  it('records a success without a transaction or a marker, and resets the streak', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    // A failure streak the success must reset (the fan-out's snapshot carries it).
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.webhookEndpoint(w, ep.id),
        UpdateExpression: 'SET consecutive_failures = :n',
        ExpressionAttributeValues: { ':n': 3 },
      }),
    );
    const events = Array.from({ length: 5 }, () => eventIn(w));
    await emitAll(events);
    const counter = countDynamoCalls();
    try {
      await pump({ local: local.current, clock });
    } finally {
      counter.stop();
    }
    for (const e of events) {
      const d = (await getDelivery(deliveryId(e.id, ep.id))) as DeliveryItem;
      expect(d).toMatchObject({ status: 'DELIVERED', attempt_count: 1 });
      const marker = await db().send(
        new GetCommand({
          TableName: tableName(),
          Key: expiryMarkerKey(d.expires_at, d.id),
          ConsistentRead: true,
        }),
      );
      expect(marker.Item).toBeUndefined();
    }
    // Each record is one conditional PutItem; no transaction, and no marker written or deleted.
    expect(counter.calls.filter((c) => c === 'TransactWriteItemsCommand')).toEqual([]);
    expect(counter.calls.filter((c) => c === 'BatchWriteItemCommand')).toEqual([]);
    const endpoint = await findEndpoint(w, ep.id);
    expect(endpoint).toMatchObject({ consecutive_failures: 0, last_delivery_status: 'DELIVERED' });
  });
});

describe("a success's endpoint stats", () => {
  const deliveredNow = async (w: string, endpointId: string, knownStreak: number) => {
    const { item } = await createDelivery({
      event: { id: `evt_${randomBytes(6).toString('hex')}`, type: 'task.created', workspace_id: w },
      endpoint: { id: endpointId, workspace_id: w },
      payloadGz: compressPayload(
        payloadOf({ type: 'task.created', occurred_at: new Date().toISOString(), data: {} }),
      ),
      now: new Date(),
    });
    const counter = countDynamoCalls();
    try {
      expect(await recordAttempt({ d: item, status: 'DELIVERED', now: new Date(), knownStreak })).toEqual({});
    } finally {
      counter.stop();
    }
    return counter.calls.filter((c) => c === 'UpdateItemCommand').length;
  };

  it('are written at the first success, skipped within the interval while the streak is 0, written when it may not be', async () => {
    // An interval no slow machine outlasts between two records, then none at all.
    resetSuccessStats(60_000);
    const w = ws();
    const ep = await endpointIn(w);
    // Record (and the status counters) + stats, then without the stats (a second success within
    // SUCCESS_STATS_INTERVAL_MS): one UpdateItem fewer.
    const first = await deliveredNow(w, ep.id, 0);
    const withoutStats = await deliveredNow(w, ep.id, 0);
    expect(first).toBe(withoutStats + 1);
    // A streak above 0 (or unknown) is reset at once, whatever the interval.
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.webhookEndpoint(w, ep.id),
        UpdateExpression: 'SET consecutive_failures = :n',
        ExpressionAttributeValues: { ':n': 2 },
      }),
    );
    expect(await deliveredNow(w, ep.id, 2)).toBe(withoutStats + 1);
    expect(await findEndpoint(w, ep.id)).toMatchObject({ consecutive_failures: 0 });
    // Past the interval, a success writes them again.
    resetSuccessStats(0);
    await deliveredNow(w, ep.id, 0);
    expect(await deliveredNow(w, ep.id, 0)).toBe(withoutStats + 1);
    resetSuccessStats();
  });
});

describe('the lease-free first attempt', () => {
  it('records one attempt when two copies of the fresh job run side by side (POSTs with one webhook-id)', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    const event = eventIn(w);
    await emitAll([event]);
    // Take the fan-out's job off the queue instead of letting the pump deliver it.
    const { ReceiveMessageCommand } = await import('@aws-sdk/client-sqs');
    const { handler } = await import('#functions/workers/ingest-events.ts');
    const { sqsEvent, lambdaContext } = await import('#infra/local/lambda-event.ts');
    const ingest = await sqs().send(
      new ReceiveMessageCommand({
        QueueUrl: local.current.urls.ingest,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
      }),
    );
    await handler(sqsEvent(ingest.Messages ?? [], 'ingest') as never, lambdaContext('t') as never);
    const out = await sqs().send(
      new ReceiveMessageCommand({
        QueueUrl: local.current.urls.deliveries,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
      }),
    );
    expect(out.Messages ?? []).toHaveLength(1);
    const job = JSON.parse(out.Messages?.[0]?.Body ?? '') as DeliverJob;
    expect(job.fresh).toBeDefined();

    const deps = { ...defaultDeps(), now: clock.now };
    const outcomes = await Promise.all([processJob(job, 1, deps), processJob(job, 1, deps)]);

    expect(outcomes.sort()).toEqual(['delivered', 'stale']);
    const d = (await getDelivery(deliveryId(event.id, ep.id))) as DeliveryItem;
    expect(d).toMatchObject({ status: 'DELIVERED', attempt_count: 1 });
    expect(d.attempts).toHaveLength(1);
    const ids = requestsTo(ep.path).map((r) => r.headers['webhook-id']);
    expect(ids.length).toBeLessThanOrEqual(2);
    expect(new Set(ids)).toEqual(new Set([d.id]));
  });

  it('sends one job for duplicate ingest messages of a new event: one POST', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    const event = eventIn(w);
    await emitAll([event, event, event]);
    await pump({ local: local.current, clock });
    expect(requestsTo(ep.path)).toHaveLength(1);
    expect(await getDelivery(deliveryId(event.id, ep.id))).toMatchObject({ status: 'DELIVERED' });
  });

  it('re-sends the first job of a delivery a fan-out created long ago and never sent (it died in between)', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    const event = eventIn(w, Date.now() - 120_000);
    const endpoint = await findEndpoint(w, ep.id);
    await createDelivery({
      event,
      endpoint: endpoint as NonNullable<typeof endpoint>,
      payloadGz: compressPayload(payloadOf(event)),
      now: new Date(Date.now() - 120_000),
    });
    await emitAll([event]);
    const run = await pump({ local: local.current, clock });
    expect(run.outcomes).toEqual(['delivered']);
    expect(requestsTo(ep.path)).toHaveLength(1);
  });

  it('writes the marker again of a PENDING delivery a repeated fan-out finds without one (a fan-out that died before its markers landed)', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    const event = eventIn(w);
    const endpoint = (await findEndpoint(w, ep.id)) as NonNullable<Awaited<ReturnType<typeof findEndpoint>>>;
    const input = { event, endpoint, payloadGz: compressPayload(payloadOf(event)), now: new Date() };
    const { item } = await createDelivery(input);
    const markerKey = expiryMarkerKey(item.expires_at, item.id);
    const marker = () =>
      db().send(new GetCommand({ TableName: tableName(), Key: markerKey, ConsistentRead: true }));
    expect((await marker()).Item).toBeDefined();
    await db().send(new DeleteCommand({ TableName: tableName(), Key: markerKey }));
    const again = await createDelivery({ ...input, now: new Date(Date.now() + 1000) });
    expect(again.created).toBe(false);
    expect((await marker()).Item).toMatchObject({ delivery_id: item.id, expires_at: item.expires_at });
  });

  it('reads the endpoint again when the snapshot a job carries is too old: a disable made since holds', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    const event = eventIn(w);
    const endpoint = (await findEndpoint(w, ep.id)) as NonNullable<Awaited<ReturnType<typeof findEndpoint>>>;
    const { item } = await createDelivery({
      event,
      endpoint,
      payloadGz: compressPayload(payloadOf(event)),
      now: new Date(),
    });
    await updateEndpoint(w, ep.id, { active: false });
    const job: DeliverJob = {
      kind: 'deliver',
      delivery_id: item.id,
      cycle: 0,
      attempt: 0,
      endpoint_id: ep.id,
      endpoint: { ...endpoint, read_at: new Date(Date.now() - 60_000).toISOString() },
    };
    const outcome = await processJob(job, 1, { ...defaultDeps(), now: clock.now });
    expect(outcome).toBe('failed');
    expect(requestsTo(ep.path)).toHaveLength(0);
    expect(await getDelivery(item.id)).toMatchObject({
      status: 'FAILED',
      last_error: expect.stringMatching(/disabled/),
    });
  });
});

/** Runs the ingest worker on what the ingest queue holds and returns the delivery jobs it sent (left off the queue). */
async function fanOutJobs(receiveCount = 1): Promise<DeliverJob[]> {
  const { ReceiveMessageCommand } = await import('@aws-sdk/client-sqs');
  const { handler } = await import('#functions/workers/ingest-events.ts');
  const { sqsEvent, lambdaContext } = await import('#infra/local/lambda-event.ts');
  const ingest = await sqs().send(
    new ReceiveMessageCommand({
      QueueUrl: local.current.urls.ingest,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 1,
    }),
  );
  const messages = (ingest.Messages ?? []).map((m) => ({
    ...m,
    Attributes: { ...m.Attributes, ApproximateReceiveCount: String(receiveCount) },
  }));
  await handler(sqsEvent(messages, 'ingest') as never, lambdaContext('t') as never);
  const out = await sqs().send(
    new ReceiveMessageCommand({
      QueueUrl: local.current.urls.deliveries,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 1,
    }),
  );
  return (out.Messages ?? []).map((m) => JSON.parse(m.Body ?? '') as DeliverJob);
}

/** `job` with its endpoint snapshot too old to be used (the worker reads the endpoint instead). */
const withStaleSnapshot = (job: DeliverJob): DeliverJob => ({
  ...job,
  endpoint: {
    ...(job.endpoint as NonNullable<DeliverJob['endpoint']>),
    read_at: new Date(Date.now() - 60_000).toISOString(),
  },
});

const markerOf = async (d: Pick<DeliveryItem, 'expires_at' | 'id'>) =>
  (
    await db().send(
      new GetCommand({
        TableName: tableName(),
        Key: expiryMarkerKey(d.expires_at, d.id),
        ConsistentRead: true,
      }),
    )
  ).Item;

describe('deliveries their fan-out does not write', () => {
  it('writes nothing at the fan-out: the first outcome creates the record, as the job carried it', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    const event = eventIn(w);
    await emitAll([event]);
    const [job] = await fanOutJobs();
    const id = deliveryId(event.id, ep.id);
    expect(job).toMatchObject({ delivery_id: id, fresh: { written: false, event_id: event.id } });
    expect(await getDelivery(id)).toBeUndefined();

    expect(await processJob(job as DeliverJob, 1, { ...defaultDeps(), now: clock.now })).toBe('delivered');
    const d = (await getDelivery(id)) as DeliveryItem;
    expect(d).toMatchObject({
      status: 'DELIVERED',
      cycle: 0,
      attempt_count: 1,
      event_id: event.id,
      endpoint_id: ep.id,
      workspace_id: w,
      created_at: job?.fresh?.created_at,
      expires_at: job?.fresh?.expires_at,
      last_response_status: 200,
    });
    expect(d.attempts).toHaveLength(1);
    expect(d).not.toHaveProperty('next_attempt_at');
    expect(d).not.toHaveProperty('written');
    expect(await markerOf(d)).toBeUndefined();
    // The endpoint notes when it was last sent such jobs (a workspace deletion waits for them).
    expect((await findEndpoint(w, ep.id))?.unwritten_sent_at).toEqual(expect.any(String));
  });

  it('writes a first retry with its expiry marker', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    receiver.on(ep.path, () => ({ status: 500 }));
    await emitAll([eventIn(w)]);
    const [job] = await fanOutJobs();
    expect(await processJob(job as DeliverJob, 1, { ...defaultDeps(), now: clock.now })).toBe(
      'retry-scheduled',
    );
    const d = (await getDelivery(job?.delivery_id ?? '')) as DeliveryItem;
    expect(d).toMatchObject({ status: 'PENDING', attempt_count: 1, last_response_status: 500 });
    expect(await markerOf(d)).toMatchObject({ delivery_id: d.id });
  });

  it('writes the record before the claim when SQS hands the job out again after a crash past the POST', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    await emitAll([eventIn(w)]);
    const [job] = (await fanOutJobs()) as DeliverJob[];
    const crash = {
      ...defaultDeps(),
      now: clock.now,
      afterPost: () => {
        throw new Error('crash');
      },
    };
    await expect(processJob(job as DeliverJob, 1, crash)).rejects.toThrow('crash');
    expect(await getDelivery(job?.delivery_id ?? '')).toBeUndefined();

    expect(await processJob(job as DeliverJob, 2, { ...defaultDeps(), now: clock.now })).toBe('delivered');
    const d = (await getDelivery(job?.delivery_id ?? '')) as DeliveryItem;
    expect(d).toMatchObject({ status: 'DELIVERED', attempt_count: 1 });
    // Two POSTs of the one webhook-id (the receiver de-duplicates on it), one record.
    expect(requestsTo(ep.path).map((r) => r.headers['webhook-id'])).toEqual([d.id, d.id]);
  });

  it('ends FAILED without a request when the endpoint was disabled before the first attempt (so recover can restart it)', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    await emitAll([eventIn(w)]);
    const [job] = (await fanOutJobs()) as DeliverJob[];
    await updateEndpoint(w, ep.id, { active: false });
    // A snapshot too old to be used: the endpoint is read, and found off.
    const stale = withStaleSnapshot(job as DeliverJob);
    expect(await processJob(stale, 1, { ...defaultDeps(), now: clock.now })).toBe('failed');
    expect(requestsTo(ep.path)).toHaveLength(0);
    expect(await getDelivery(job?.delivery_id ?? '')).toMatchObject({
      status: 'FAILED',
      last_error: expect.stringMatching(/disabled/),
    });
  });

  it('writes no record and sends nothing when the workspace deletion switched the endpoint off first', async () => {
    const { webhooksParticipant } = await import('#shared/webhooks/lifecycle.ts');
    const w = ws();
    const ep = await endpointIn(w);
    await emitAll([eventIn(w)]);
    const [job] = (await fanOutJobs()) as DeliverJob[];
    const deps = { ...defaultDeps(), now: clock.now };
    const stale = withStaleSnapshot(job as DeliverJob);
    await webhooksParticipant.mark?.({
      kind: 'workspace',
      id: w,
      eventId: 'evt_del',
      acceptedAt: new Date().toISOString(),
    });
    expect(await processJob(stale, 1, deps)).toBe('dropped');
    expect(await processJob(stale, 2, deps)).toBe('dropped');
    expect(requestsTo(ep.path)).toHaveLength(0);
    expect(await getDelivery(job?.delivery_id ?? '')).toBeUndefined();
  });

  it('creates the deliveries first for a redelivered ingest message; the unwritten job of the first run then records on them, once', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    const event = eventIn(w);
    await emitAll([event]);
    const [first] = (await fanOutJobs()) as DeliverJob[];
    // The same event handed out again (its first run failed after sending the job).
    await emitAll([event]);
    const [again] = (await fanOutJobs(2)) as DeliverJob[];
    const id = deliveryId(event.id, ep.id);
    // Its job claims the attempt (the first run's may have made it): no `fresh`.
    expect(again).toMatchObject({ delivery_id: deliveryId(event.id, ep.id), cycle: 0, attempt: 0 });
    expect(again?.fresh).toBeUndefined();
    expect(await getDelivery(id)).toMatchObject({ status: 'PENDING', attempt_count: 0 });

    // Its job waits a minute (the first run's job may be queued still): early, it is put back.
    const deps = { ...defaultDeps(), now: clock.now, maxSqsDelaySeconds: 0 };
    expect(again?.not_before).toEqual(expect.any(String));
    expect(await processJob(again as DeliverJob, 1, deps)).toBe('deferred');
    expect(await processJob(first as DeliverJob, 1, deps)).toBe('delivered');
    clock.advanceTo(Date.parse(again?.not_before ?? '') + 1000);
    expect(await processJob(again as DeliverJob, 1, deps)).toBe('stale');
    expect(await getDelivery(id)).toMatchObject({ status: 'DELIVERED', attempt_count: 1 });
    expect(requestsTo(ep.path)).toHaveLength(1);
  });

  it('holds a workspace deletion until the first attempts a fan-out may have started have ended', async () => {
    const { webhooksParticipant, inFlightAttemptsEndWithinMs } = await import(
      '#shared/webhooks/lifecycle.ts'
    );
    const { ENDPOINT_SNAPSHOT_MAX_AGE_MS } = await import('#shared/webhooks/worker.ts');
    // The wait covers a snapshot's use, an attempt's deadline and its record.
    expect(inFlightAttemptsEndWithinMs()).toBeGreaterThan(ENDPOINT_SNAPSHOT_MAX_AGE_MS + 5 * 1000);
    const w = ws();
    const ep = await endpointIn(w);
    // Just marked: the sweep first lets a fan-out that read the endpoints before the mark note its jobs.
    const marked = {
      kind: 'workspace' as const,
      id: w,
      eventId: 'evt_del',
      acceptedAt: new Date().toISOString(),
    };
    const settle = await webhooksParticipant.sweep(marked, undefined, { maxItems: 100 });
    expect(settle).toMatchObject({ deleted: 0, next: {} });
    expect(settle.delaySeconds).toBeLessThanOrEqual(2);
    const subject = { ...marked, acceptedAt: new Date(Date.now() - 3000).toISOString() };
    // No unwritten job sent: the sweep goes straight to the endpoint.
    expect(await webhooksParticipant.sweep(subject, undefined, { maxItems: 100 })).toEqual({
      deleted: 0,
      next: { endpoint: ep.id },
    });
    await emitAll([eventIn(w)]);
    await fanOutJobs();
    const page = await webhooksParticipant.sweep(subject, undefined, { maxItems: 100 });
    expect(page).toMatchObject({ deleted: 0, next: {} });
    expect(page.delaySeconds).toBeGreaterThanOrEqual(Math.floor(inFlightAttemptsEndWithinMs() / 1000) - 1);
    // Once that time has passed since the last note ...
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.webhookEndpoint(w, ep.id),
        UpdateExpression: 'SET unwritten_sent_at = :t',
        ExpressionAttributeValues: {
          ':t': new Date(Date.now() - 3000 - inFlightAttemptsEndWithinMs() - 2000).toISOString(),
        },
      }),
    );
    // ... and the switch-off too (a job held back in the queue may have read the endpoint just before it).
    expect(await webhooksParticipant.sweep(subject, {}, { maxItems: 100 })).toMatchObject({ next: {} });
    const longAgo = {
      ...subject,
      acceptedAt: new Date(Date.now() - inFlightAttemptsEndWithinMs() - 5000).toISOString(),
    };
    expect(await webhooksParticipant.sweep(longAgo, {}, { maxItems: 100 })).toEqual({
      deleted: 0,
      next: { endpoint: ep.id },
    });
  });
});
