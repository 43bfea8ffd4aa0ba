/**
 * Races and failures around the lean success and fan-out paths: a success's stats write skipped
 * or failed must never let interleaved failures disable a succeeding endpoint, a success that
 * lost the race to a later failure still ends the streak it came before, and the fan-out never
 * leaves a created delivery without its expiry marker nor an orphan marker on a repeated event.
 */
import { randomBytes } from 'node:crypto';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { db, tableName } from '#shared/db/client.ts';
import { keys } from '#shared/db/keys.ts';
import { expiryMarkerKey } from '#shared/webhooks/delivery-markers.ts';
import { compressPayload, payloadOf } from '#shared/webhooks/delivery-payload.ts';
import {
  createDeliveries,
  createDelivery,
  type DeliveryItem,
  getDelivery,
  type NewDelivery,
  newDeliveryItem,
  recordAttempt,
  resetSuccessStats,
} from '#shared/webhooks/delivery-store.ts';
import { createEndpoint, findEndpoint } from '#shared/webhooks/endpoints.ts';
import { setEnv, useTestTable } from '#test/helpers/env.ts';
import { useMemorySecrets } from '#test/helpers/secrets.ts';

useTestTable();
const LIMIT = 3;

beforeAll(() => {
  useMemorySecrets();
});
beforeEach(() => {
  setEnv({ ALLOW_LOOPBACK_TARGETS: 'true', WEBHOOK_DISABLE_AFTER_CONSECUTIVE_FAILURES: String(LIMIT) });
  // An interval no slow machine outlasts within one test: every skip the code may make, it makes.
  resetSuccessStats(60_000);
});
afterEach(() => {
  setEnv({ WEBHOOK_DISABLE_AFTER_CONSECUTIVE_FAILURES: undefined });
  resetSuccessStats();
});

const ws = () => `ws-${randomBytes(4).toString('hex')}`;

async function endpointIn(workspace: string) {
  const { view } = await createEndpoint(workspace, 'u1', {
    name: 'races',
    url: 'http://127.0.0.1:9/races',
    events: { 'task.created': true },
    retry_policy: 'NONE',
  });
  return view.id;
}

const inputFor = (w: string, endpointId: string, now = new Date()): NewDelivery => {
  const event = { id: `evt_${randomBytes(6).toString('hex')}`, type: 'task.created', workspace_id: w };
  return {
    event,
    endpoint: { id: endpointId, workspace_id: w },
    payloadGz: compressPayload(payloadOf({ type: event.type, occurred_at: now.toISOString(), data: {} })),
    now,
  };
};

const newDelivery = async (w: string, endpointId: string) =>
  (await createDelivery(inputFor(w, endpointId))).item;

/** A first attempt that succeeded, with the endpoint snapshot's streak `knownStreak`. */
const succeed = async (d: DeliveryItem, knownStreak: number | undefined, now = new Date()) =>
  recordAttempt({ d, status: 'DELIVERED', now, knownStreak });

/** A first attempt that failed for good (no retry). */
const fail = async (d: DeliveryItem, now = new Date()) =>
  recordAttempt({ d, status: 'FAILED', now, error: 'HTTP 500' });

const setStreak = (w: string, endpointId: string, n: number) =>
  db().send(
    new UpdateCommand({
      TableName: tableName(),
      Key: keys.webhookEndpoint(w, endpointId),
      UpdateExpression: 'SET consecutive_failures = :n',
      ExpressionAttributeValues: { ':n': n },
    }),
  );

/** Makes the DynamoDB client throw on the requests `match` picks (until stopped). */
function failRequests(match: (command: string, input: Record<string, unknown>) => boolean) {
  const name = `fail-${randomBytes(4).toString('hex')}`;
  let failed = 0;
  db().middlewareStack.add(
    (next, context) => async (args) => {
      if (match(String(context.commandName), args.input as Record<string, unknown>)) {
        failed++;
        const err = new Error('Throughput exceeds the current capacity of your table or index.');
        err.name = 'ProvisionedThroughputExceededException';
        throw err;
      }
      return next(args);
    },
    { step: 'initialize', name },
  );
  return {
    failed: () => failed,
    stop: () => db().middlewareStack.remove(name),
  };
}

const isStatsWrite = (command: string, input: Record<string, unknown>) =>
  command === 'UpdateItemCommand' && String(input.UpdateExpression).includes('consecutive_failures = :zero');
const isMarkersBatch = (command: string, input: Record<string, unknown>) =>
  command === 'BatchWriteItemCommand' && JSON.stringify(input.RequestItems).includes('PutRequest');

const markerOf = async (expiresAt: string, id: string) =>
  (
    await db().send(
      new GetCommand({ TableName: tableName(), Key: expiryMarkerKey(expiresAt, id), ConsistentRead: true }),
    )
  ).Item;

describe("a success's endpoint stats", () => {
  it('reset the streak after every failure of this process, whatever the snapshot says: interleaved successes keep the endpoint enabled', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    // Successes each carrying a snapshot that says "streak 0" (up to 5 s old: the failures in
    // between are not in it), each followed by a failure, all within one stats interval: more
    // failures than the limit, never two in a row.
    for (let i = 0; i < LIMIT + 1; i++) {
      expect(await succeed(await newDelivery(w, ep), 0)).toEqual({});
      expect(await fail(await newDelivery(w, ep))).toEqual({});
    }
    expect(await findEndpoint(w, ep)).toMatchObject({ active: true, consecutive_failures: 1 });
  });

  it('are written by the next success when the write failed (a failed write does not start the interval)', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    // A streak the snapshot does not show (failures recorded elsewhere).
    await setStreak(w, ep, 2);
    const first = await newDelivery(w, ep);
    const second = await newDelivery(w, ep);
    const broken = failRequests(isStatsWrite);
    try {
      expect(await succeed(first, 0)).toEqual({});
    } finally {
      broken.stop();
    }
    expect(broken.failed()).toBe(1);
    expect(await findEndpoint(w, ep)).toMatchObject({ consecutive_failures: 2 });
    const at = new Date();
    expect(await succeed(second, 0, at)).toEqual({});
    expect(await findEndpoint(w, ep)).toMatchObject({
      consecutive_failures: 0,
      last_delivery_status: 'DELIVERED',
      last_delivery_at: at.toISOString(),
    });
  });

  it('that lost the race to a later failure end the streak counted before them: the failure alone is left', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    const t0 = Date.now();
    // LIMIT - 2 failures, then a success at t0 + 10 whose stats land after a failure at t0 + 20
    // (another worker's, committed first): in time order the streak is 1, not LIMIT - 1.
    for (let i = 0; i < LIMIT - 2; i++) await fail(await newDelivery(w, ep), new Date(t0 + i));
    const late = await newDelivery(w, ep);
    expect(await fail(await newDelivery(w, ep), new Date(t0 + 20))).toEqual({});
    expect(await findEndpoint(w, ep)).toMatchObject({ consecutive_failures: LIMIT - 1 });
    expect(await succeed(late, LIMIT - 1, new Date(t0 + 10))).toEqual({});
    const after = await findEndpoint(w, ep);
    // The later failure's outcome stays the endpoint's last one.
    expect(after).toMatchObject({
      active: true,
      consecutive_failures: 1,
      last_delivery_status: 'FAILED',
      last_delivery_at: new Date(t0 + 20).toISOString(),
    });
    // So the next failure does not disable it (before: LIMIT in a row).
    expect(await fail(await newDelivery(w, ep), new Date(t0 + 30))).toEqual({});
    expect(await findEndpoint(w, ep)).toMatchObject({ active: true, consecutive_failures: 2 });
  });
});

describe("the fan-out's expiry markers", () => {
  it('puts the markers of the deliveries it created when their batch write fails, before it returns', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    const inputs = [inputFor(w, ep), inputFor(w, ep), inputFor(w, ep)];
    const broken = failRequests(isMarkersBatch);
    let results: Awaited<ReturnType<typeof createDeliveries>>;
    try {
      results = await createDeliveries(inputs);
    } finally {
      broken.stop();
    }
    expect(broken.failed()).toBeGreaterThan(0);
    expect(results.map((r) => r.created)).toEqual([true, true, true]);
    for (const { item } of results) {
      expect(await getDelivery(item.id)).toMatchObject({ status: 'PENDING' });
      expect(await markerOf(item.expires_at, item.id)).toMatchObject({ delivery_id: item.id });
    }
  });

  it('throws once both writes settled when no write of a marker lands, and the repeated fan-out puts it back', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    const input = inputFor(w, ep);
    const id = newDeliveryItem(input).id;
    // The batch fails, and the first one-by-one put of the marker too: the call throws (the
    // ingest message comes back), and the repeated fan-out puts the marker back.
    let puts = 0;
    const broken = failRequests(
      (c, i) =>
        isMarkersBatch(c, i) ||
        (c === 'PutItemCommand' && String(i.ConditionExpression) !== 'undefined' && ++puts === 1),
    );
    try {
      await expect(createDelivery(input)).rejects.toThrow(/capacity/);
    } finally {
      broken.stop();
    }
    const d = (await getDelivery(id)) as DeliveryItem;
    expect(d).toMatchObject({ status: 'PENDING' });
    expect(await markerOf(d.expires_at, id)).toBeUndefined();
    const again = await createDelivery({ ...input, now: new Date(input.now.getTime() + 1000) });
    expect(again.created).toBe(false);
    expect(await markerOf(d.expires_at, id)).toMatchObject({ delivery_id: id });
  });

  it('leaves no orphan marker when a repeated event finds its delivery', async () => {
    const w = ws();
    const ep = await endpointIn(w);
    const input = inputFor(w, ep);
    const { item } = await createDelivery(input);
    const repeat = { ...input, now: new Date(input.now.getTime() + 1000) };
    const again = await createDelivery(repeat);
    expect(again.created).toBe(false);
    const mine = newDeliveryItem(repeat);
    expect(mine.expires_at).not.toBe(item.expires_at);
    expect(await markerOf(mine.expires_at, item.id)).toBeUndefined();
    expect(await markerOf(item.expires_at, item.id)).toMatchObject({ delivery_id: item.id });
  });
});
