import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { routes } from '#functions/routes.ts';
import { handler as getDeliveryH } from '#functions/webhooks/get-delivery.ts';
import { setResolver } from '#shared/net/url-guard.ts';
import { check } from '#shared/validation.ts';
import {
  compressPayload,
  MAX_STORED_PAYLOAD_BYTES,
  payloadOf,
  payloadText,
} from '#shared/webhooks/delivery-payload.ts';
import {
  createDelivery,
  type DeliveryItem,
  getDelivery,
  MAX_ATTEMPTS_KEPT,
  recordAttempt,
  type StoredAttempt,
} from '#shared/webhooks/delivery-store.ts';
import { createEndpoint, findEndpoint } from '#shared/webhooks/endpoints.ts';
import { deliveryDetailSchema } from '#shared/webhooks/schemas.ts';
import { setEnv, useTestTable } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { useMemorySecrets } from '#test/helpers/secrets.ts';
import { testIdentity } from '#test/helpers/session.ts';

useTestTable();
let jwt: string;
const LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024;

beforeAll(async () => {
  setEnv({ ALLOW_LOOPBACK_TARGETS: 'false' });
  useMemorySecrets();
  jwt = await (await testIdentity()).jwt('u1', 'ws-detail');
  setResolver(async () => [{ address: '93.184.216.34', family: 4 }]);
});

async function endpoint() {
  const { view } = await createEndpoint('ws-detail', 'u1', {
    name: 'detail',
    url: 'https://hooks.example.com/in',
    events: { 'task.created': true },
    retry_policy: 'EXPONENTIAL',
  });
  return (await findEndpoint('ws-detail', view.id))!;
}

async function deliveryWith(data: Record<string, unknown>) {
  const ep = await endpoint();
  const event = {
    id: `evt_${randomBytes(6).toString('hex')}`,
    type: 'task.created',
    workspace_id: ep.workspace_id,
    occurred_at: new Date().toISOString(),
    data,
  };
  const payloadGz = compressPayload(payloadOf(event));
  expect(payloadGz.length).toBeLessThanOrEqual(MAX_STORED_PAYLOAD_BYTES);
  const { item } = await createDelivery({ event, endpoint: ep, payloadGz, now: new Date() });
  return item;
}

/** Records `n` failed attempts (PENDING, as retries in progress), each answered by `answer`. */
async function fail(d: DeliveryItem, n: number, answer: Partial<StoredAttempt> = {}) {
  let current = d;
  for (let i = 0; i < n; i++) {
    const attempt: StoredAttempt = {
      cycle: current.cycle,
      attempt: current.attempt_count + 1,
      started_at: new Date().toISOString(),
      duration_ms: 12,
      url: 'https://hooks.example.com/in',
      request_headers: { 'webhook-id': current.id, 'webhook-signature': `v1,${'s'.repeat(44)}` },
      status: 500,
      response_headers: { 'content-type': 'text/plain' },
      response_body: 'nope',
      response_truncated: false,
      ...answer,
    };
    expect(await recordAttempt({ d: current, attempt, status: 'PENDING', now: new Date() })).toEqual({});
    current = (await getDelivery(current.id)) as DeliveryItem;
  }
  return current;
}

const detailOf = (d: DeliveryItem) =>
  invoke(getDeliveryH, routes.getDelivery, { params: { id: d.endpoint_id, delivery_id: d.id }, token: jwt });

describe('GET /webhooks/{id}/deliveries/{delivery_id}', () => {
  it('answers a 900 KB event with 8 attempts with the payload once, far below the 6 MB Lambda limit', async () => {
    const marker = `MARK-${randomBytes(6).toString('hex')}`;
    // About 900 KB of payload, of quotes: each is escaped in the payload, and again in the answer.
    const d = await deliveryWith({ marker, text: '"q" '.repeat(150 * 1024) });
    expect(payloadText(d).length).toBeGreaterThan(900 * 1024);
    expect(d.payload_gz.length).toBeLessThan(MAX_STORED_PAYLOAD_BYTES);
    await fail(d, 8);

    const res = await detailOf(d);
    expect(res.status).toBe(200);
    const raw = JSON.stringify(res.body);
    expect(raw.split(marker).length - 1).toBe(1);
    expect(Buffer.byteLength(raw)).toBeLessThan(LAMBDA_RESPONSE_LIMIT / 2);
    expect(res.body.attempts).toHaveLength(8);
    expect(res.body.attempts[0].request).toEqual({
      url: 'https://hooks.example.com/in',
      headers: expect.objectContaining({ 'webhook-id': d.id }),
    });
    expect(check(deliveryDetailSchema, res.body).success).toBe(true);
  });

  it('keeps recording attempts with large answers next to a payload near the stored maximum, and stays bounded', async () => {
    // About 270 KB of random base64: it barely compresses.
    const d = await deliveryWith({ blob: randomBytes(270 * 1024 * 0.75).toString('base64') });
    expect(d.payload_gz.length).toBeGreaterThan(200 * 1024);
    const headers = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`x-h${i}`, 'h'.repeat(512)]));
    const after = await fail(d, MAX_ATTEMPTS_KEPT + 5, {
      response_headers: headers,
      response_body: '\u0001'.repeat(4096),
      response_truncated: true,
    });
    // The item stays below DynamoDB's 400 KB: fewer attempts are kept, the newest always.
    expect(after.attempt_count).toBe(MAX_ATTEMPTS_KEPT + 5);
    expect(after.attempts.length).toBeGreaterThan(0);
    expect(after.attempts.length).toBeLessThan(MAX_ATTEMPTS_KEPT);
    expect(after.attempts.at(-1)?.attempt).toBe(MAX_ATTEMPTS_KEPT + 5);

    const res = await detailOf(after);
    expect(res.status).toBe(200);
    expect(Buffer.byteLength(JSON.stringify(res.body))).toBeLessThan(LAMBDA_RESPONSE_LIMIT / 4);
    expect(res.body.attempts.at(-1).response.body).toHaveLength(4096);
  });

  it('shows at most the 20 latest attempts', async () => {
    const d = await deliveryWith({ task_id: 't1' });
    const after = await fail(d, MAX_ATTEMPTS_KEPT + 3);
    const res = await detailOf(after);
    expect(res.body.attempts).toHaveLength(MAX_ATTEMPTS_KEPT);
    expect(res.body.attempts[0].attempt).toBe(4);
  });
});
