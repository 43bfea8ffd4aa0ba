import { randomBytes } from 'node:crypto';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import { routes } from '#functions/routes.ts';
import { handler as createH } from '#functions/webhooks/create-webhook.ts';
import { handler as deleteH } from '#functions/webhooks/delete-webhook.ts';
import { handler as getDeliveryH } from '#functions/webhooks/get-delivery.ts';
import { handler as getH } from '#functions/webhooks/get-webhook.ts';
import { handler as listDeliveriesH } from '#functions/webhooks/list-deliveries.ts';
import { handler as eventsH } from '#functions/webhooks/list-webhook-events.ts';
import { handler as listH } from '#functions/webhooks/list-webhooks.ts';
import { handler as recoverH } from '#functions/webhooks/recover-webhook.ts';
import { handler as redeliverH } from '#functions/webhooks/redeliver.ts';
import { handler as rotateH } from '#functions/webhooks/rotate-webhook-secret.ts';
import { handler as testH } from '#functions/webhooks/test-webhook.ts';
import { handler as updateH } from '#functions/webhooks/update-webhook.ts';
import { MAX_PROBLEM_ERRORS } from '#shared/http/problem.ts';
import { setResolver } from '#shared/net/url-guard.ts';
import { sqs } from '#shared/queues.ts';
import { type DeliveryItem, getDelivery, recordAttempt } from '#shared/webhooks/delivery-store.ts';
import { findEndpoint, signingSecrets } from '#shared/webhooks/endpoints.ts';
import { setEnv, useTestSqs, useTestTable } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { useMemorySecrets } from '#test/helpers/secrets.ts';
import { testIdentity } from '#test/helpers/session.ts';

useTestTable();
const local = useTestSqs();
let jwt: string;
let otherJwt: string;

beforeAll(async () => {
  setEnv({ ALLOW_LOOPBACK_TARGETS: 'false' });
  useMemorySecrets();
  const id = await testIdentity();
  jwt = await id.jwt('u1', 'ws-a');
  otherJwt = await id.jwt('u2', 'ws-b');
  setResolver(async (host) => {
    if (host === 'hooks.example.com') return [{ address: '93.184.216.34', family: 4 }];
    if (host === 'internal.example.com') return [{ address: '10.0.0.8', family: 4 }];
    throw new Error('ENOTFOUND');
  });
});

const body = (over: Record<string, unknown> = {}) => ({
  name: 'CI hook',
  url: 'https://hooks.example.com/in',
  events: { 'task.created': true, 'task.completed': true, 'task.deleted': false },
  retry_policy: 'LINEAR',
  ...over,
});

async function create(over: Record<string, unknown> = {}, token = jwt) {
  return invoke(createH, routes.createWebhook, { body: body(over), token });
}

/** Ends a delivery as FAILED (as the worker would), so it can be redelivered. */
async function finish(id: string) {
  const d = (await getDelivery(id)) as DeliveryItem;
  expect(await recordAttempt({ d, status: 'FAILED', now: new Date(), error: 'test' })).not.toBe(false);
}

async function queued(): Promise<unknown[]> {
  const out = await sqs().send(
    new ReceiveMessageCommand({
      QueueUrl: local.current.urls.deliveries,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 0,
    }),
  );
  return (out.Messages ?? []).map((m) => JSON.parse(m.Body ?? '{}'));
}

describe('webhook endpoints API', () => {
  it('creates an endpoint with a generated whsec_ secret shown once, stored encrypted', async () => {
    const res = await create();
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id: expect.stringMatching(/^wh_/),
      name: 'CI hook',
      events: { 'task.created': true, 'task.completed': true },
      retry_policy: 'LINEAR',
      active: true,
      stats: { consecutive_failures: 0, last_delivery_at: null },
    });
    expect(res.body.secret).toMatch(/^whsec_/);
    expect(Buffer.from(res.body.secret.slice(6), 'base64').length).toBeGreaterThanOrEqual(24);
    const item = await findEndpoint('ws-a', res.body.id);
    expect(JSON.stringify(item)).not.toContain(res.body.secret.slice(6));
    expect(await signingSecrets(item as never, new Date())).toEqual([res.body.secret]);
    const got = await invoke(getH, routes.getWebhook, { params: { id: res.body.id }, token: jwt });
    expect(got.body.secret).toBeUndefined();
    expect(JSON.stringify(got.body)).not.toContain('sealed');
  });

  it.each([
    ['a random Standard Webhooks secret', `whsec_${randomBytes(32).toString('base64')}`],
    ['24 zero bytes', `whsec_${Buffer.alloc(24).toString('base64')}`],
    ['a password in base64', `whsec_${Buffer.from('my-company-webhook-secret\n').toString('base64')}`],
    ["the product spec's example", 'secret_key'],
  ])('refuses a caller-chosen secret (%s): 400, and no endpoint is created', async (_name, secret) => {
    const before = (await invoke(listH, routes.listWebhooks, { token: jwt, query: { limit: '100' } })).body
      .data.length;
    const res = await create({ secret });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([
      { path: 'body.secret', message: expect.stringMatching(/generated by the service/) },
    ]);
    const after = (await invoke(listH, routes.listWebhooks, { token: jwt, query: { limit: '100' } })).body
      .data.length;
    expect(after).toBe(before);
  });

  it('answers a small 400 to a body full of mistakes: the first errors listed, the rest counted', async () => {
    const events = Object.fromEntries(Array.from({ length: 14_000 }, (_, i) => [`x${i}`, true] as const));
    const res = await create({ events });
    expect(res.status).toBe(400);
    expect(res.body.errors).toHaveLength(MAX_PROBLEM_ERRORS);
    expect(res.body.errors_omitted).toBe(14_000 - MAX_PROBLEM_ERRORS);
    expect(JSON.stringify(res.body).length).toBeLessThan(8 * 1024);
  });

  it('answers 400 listing unknown event types', async () => {
    const res = await create({ events: { 'task.created': true, 'task.exploded': true, 'foo.bar': true } });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual([
      'body.events.task.exploded',
      'body.events.foo.bar',
    ]);
  });

  it.each([
    [{ url: 'http://hooks.example.com/in' }, 'body.url', /https/],
    [{ url: 'https://user:pw@hooks.example.com/in' }, 'body.url', /credentials/],
    [{ url: 'https://internal.example.com/in' }, 'body.url', /10\.0\.0\.8.*private/],
    [{ url: 'https://169.254.169.254/latest' }, 'body.url', /linkLocal/],
    [{ url: 'https://127.0.0.1/x' }, 'body.url', /loopback/],
    [{ retry_policy: 'SOMETIMES' }, 'body.retry_policy', /./],
    [{ events: { 'task.created': false } }, 'body.events', /at least one/],
    [{ name: '' }, 'body.name', /./],
  ])('answers 400 for %j', async (over, path, message) => {
    const res = await create(over);
    expect(res.status).toBe(400);
    expect(res.body.errors).toContainEqual({ path, message: expect.stringMatching(message) });
  });

  it('lists the workspace endpoints only, paginated', async () => {
    const mine = await invoke(listH, routes.listWebhooks, { token: jwt, query: { limit: '1' } });
    expect(mine.status).toBe(200);
    expect(mine.body.data).toHaveLength(1);
    expect(mine.body.next_cursor).toEqual(expect.any(String));
    const theirs = await invoke(listH, routes.listWebhooks, { token: otherJwt });
    expect(theirs.body).toEqual({ data: [], next_cursor: null });
  });

  it("answers 404 for another workspace's endpoint on every route", async () => {
    const { body: ep } = await create();
    const params = { id: ep.id };
    expect((await invoke(getH, routes.getWebhook, { params, token: otherJwt })).status).toBe(404);
    expect(
      (await invoke(updateH, routes.updateWebhook, { params, body: { name: 'x' }, token: otherJwt })).status,
    ).toBe(404);
    expect((await invoke(deleteH, routes.deleteWebhook, { params, token: otherJwt })).status).toBe(404);
    expect((await invoke(rotateH, routes.rotateWebhookSecret, { params, token: otherJwt })).status).toBe(404);
    expect((await invoke(testH, routes.testWebhook, { params, token: otherJwt })).status).toBe(404);
    expect((await invoke(listDeliveriesH, routes.listDeliveries, { params, token: otherJwt })).status).toBe(
      404,
    );
    const since = new Date(Date.now() - 3600_000).toISOString();
    expect(
      (await invoke(recoverH, routes.recoverWebhook, { params, body: { since }, token: otherJwt })).status,
    ).toBe(404);
  });

  it('updates name, events, retry policy and active, and re-enables with a cleared reason', async () => {
    const { body: ep } = await create();
    const off = await invoke(updateH, routes.updateWebhook, {
      params: { id: ep.id },
      body: { active: false, events: { 'comment.created': true }, retry_policy: 'NONE', name: 'Renamed' },
      token: jwt,
    });
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({
      active: false,
      disabled_reason: expect.any(String),
      events: { 'comment.created': true },
      retry_policy: 'NONE',
      name: 'Renamed',
    });
    const on = await invoke(updateH, routes.updateWebhook, {
      params: { id: ep.id },
      body: { active: true },
      token: jwt,
    });
    expect(on.body).toMatchObject({ active: true, disabled_reason: null, disabled_at: null });
    const bad = await invoke(updateH, routes.updateWebhook, { params: { id: ep.id }, body: {}, token: jwt });
    expect(bad.status).toBe(400);
    const unsafe = await invoke(updateH, routes.updateWebhook, {
      params: { id: ep.id },
      body: { url: 'https://internal.example.com/x' },
      token: jwt,
    });
    expect(unsafe.status).toBe(400);
  });

  it('deletes an endpoint (204, then 404)', async () => {
    const { body: ep } = await create();
    expect((await invoke(deleteH, routes.deleteWebhook, { params: { id: ep.id }, token: jwt })).status).toBe(
      204,
    );
    expect((await invoke(getH, routes.getWebhook, { params: { id: ep.id }, token: jwt })).status).toBe(404);
    expect((await invoke(deleteH, routes.deleteWebhook, { params: { id: ep.id }, token: jwt })).status).toBe(
      404,
    );
  });

  it('rotates the secret: the new one is shown once and both sign for 24 hours', async () => {
    const { body: ep } = await create();
    const res = await invoke(rotateH, routes.rotateWebhookSecret, { params: { id: ep.id }, token: jwt });
    expect(res.status).toBe(200);
    expect(res.body.secret).toMatch(/^whsec_/);
    expect(res.body.secret).not.toBe(ep.secret);
    const item = await findEndpoint('ws-a', ep.id);
    expect(await signingSecrets(item as never, new Date())).toEqual([res.body.secret, ep.secret]);
    expect(await signingSecrets(item as never, new Date(Date.now() + 25 * 3600_000))).toEqual([
      res.body.secret,
    ]);
    const got = await invoke(getH, routes.getWebhook, { params: { id: ep.id }, token: jwt });
    expect(got.body.previous_secret_expires_at).toBe(res.body.previous_secret_expires_at);
  });

  it('serves the event catalog with descriptions and examples', async () => {
    const res = await invoke(eventsH, routes.listWebhookEvents, { token: jwt });
    expect(res.status).toBe(200);
    const names = res.body.data.map((e: { name: string }) => e.name);
    for (const n of [
      'task.created',
      'task.updated',
      'task.completed',
      'task.deleted',
      'project.created',
      'project.updated',
      'comment.created',
      'member.added',
      'ping',
    ]) {
      expect(names).toContain(n);
    }
    expect(res.body.data[0]).toMatchObject({ description: expect.any(String), example: expect.any(Object) });
  });

  it('schedules a ping, lists it among the deliveries and shows its detail', async () => {
    const { body: ep } = await create();
    const res = await invoke(testH, routes.testWebhook, { params: { id: ep.id }, token: jwt });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ event_type: 'ping', status: 'PENDING', endpoint_id: ep.id });
    expect(await queued()).toContainEqual({
      kind: 'deliver',
      delivery_id: res.body.id,
      cycle: 0,
      attempt: 0,
    });

    const list = await invoke(listDeliveriesH, routes.listDeliveries, { params: { id: ep.id }, token: jwt });
    expect(list.body.data.map((d: { id: string }) => d.id)).toEqual([res.body.id]);
    const filtered = await invoke(listDeliveriesH, routes.listDeliveries, {
      params: { id: ep.id },
      query: { status: 'DELIVERED' },
      token: jwt,
    });
    expect(filtered.body.data).toEqual([]);
    const detail = await invoke(getDeliveryH, routes.getDelivery, {
      params: { id: ep.id, delivery_id: res.body.id },
      token: jwt,
    });
    expect(detail.status).toBe(200);
    expect(JSON.parse(detail.body.payload)).toMatchObject({ type: 'ping', data: { endpoint_id: ep.id } });
    expect(detail.body.attempts).toEqual([]);
    const foreign = await invoke(getDeliveryH, routes.getDelivery, {
      params: { id: ep.id, delivery_id: res.body.id },
      token: otherJwt,
    });
    expect(foreign.status).toBe(404);
  });

  it("answers 404 to redeliver with another workspace's session", async () => {
    const { body: ep } = await create();
    const ping = await invoke(testH, routes.testWebhook, { params: { id: ep.id }, token: jwt });
    await finish(ping.body.id);

    const res = await invoke(redeliverH, routes.redeliver, {
      params: { id: ep.id, delivery_id: ping.body.id },
      token: otherJwt,
    });

    expect(res.status).toBe(404);
    const mine = await invoke(redeliverH, routes.redeliver, {
      params: { id: ep.id, delivery_id: ping.body.id },
      token: jwt,
    });
    expect(mine.status).toBe(202);
  });

  it('answers 404 for a delivery of another endpoint of the same workspace (get and redeliver)', async () => {
    const { body: a } = await create({ name: 'A' });
    const { body: b } = await create({ name: 'B' });
    const ping = await invoke(testH, routes.testWebhook, { params: { id: a.id }, token: jwt });
    await finish(ping.body.id);
    const params = { id: b.id, delivery_id: ping.body.id };

    const got = await invoke(getDeliveryH, routes.getDelivery, { params, token: jwt });
    const again = await invoke(redeliverH, routes.redeliver, { params, token: jwt });

    expect(got.status).toBe(404);
    expect(again.status).toBe(404);
    expect(await getDelivery(ping.body.id)).toMatchObject({ status: 'FAILED', cycle: 0 });
  });

  it('answers 409 to redeliver a delivery still in progress', async () => {
    const { body: ep } = await create();
    const ping = await invoke(testH, routes.testWebhook, { params: { id: ep.id }, token: jwt });
    const res = await invoke(redeliverH, routes.redeliver, {
      params: { id: ep.id, delivery_id: ping.body.id },
      token: jwt,
    });
    expect(res.status).toBe(409);
  });

  it('accepts a recover request (202) and queues a recover job; rejects until before since', async () => {
    const { body: ep } = await create();
    const since = new Date(Date.now() - 3600_000).toISOString();
    const res = await invoke(recoverH, routes.recoverWebhook, {
      params: { id: ep.id },
      body: { since },
      token: jwt,
    });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ endpoint_id: ep.id, since, status: 'accepted' });
    expect(await queued()).toContainEqual(
      expect.objectContaining({ kind: 'recover', endpoint_id: ep.id, since }),
    );
    const bad = await invoke(recoverH, routes.recoverWebhook, {
      params: { id: ep.id },
      body: { since, until: new Date(Date.now() - 7200_000).toISOString() },
      token: jwt,
    });
    expect(bad.status).toBe(400);
  });
});
