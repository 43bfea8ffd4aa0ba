/**
 * The webhooks part of GET /status/workspace: endpoints by state and deliveries of the last 24 h
 * by status, moved by real transitions (the API handlers, the ingest and delivery workers).
 */
import { randomBytes } from 'node:crypto';
import { PurgeQueueCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes } from '#functions/routes.ts';
import { handler as getWorkspaceStatus } from '#functions/system/get-workspace-status.ts';
import { handler as createWebhook } from '#functions/webhooks/create-webhook.ts';
import { handler as deleteWebhook } from '#functions/webhooks/delete-webhook.ts';
import { handler as redeliver } from '#functions/webhooks/redeliver.ts';
import { handler as updateWebhook } from '#functions/webhooks/update-webhook.ts';
import { sqs } from '#shared/queues.ts';
import { deliveryId } from '#shared/webhooks/delivery-store.ts';
import { resetDlqUrl } from '#shared/webhooks/jobs.ts';
import { setEnv, useTestSqs, useTestTable } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { useMemorySecrets } from '#test/helpers/secrets.ts';
import { type TestIdentity, testIdentity } from '#test/helpers/session.ts';
import { Clock, pump, type Receiver, startReceiver } from './webhooks-harness.ts';

useTestTable();
const local = useTestSqs();
let receiver: Receiver;
let id: TestIdentity;
let admin: string;
let operator: string;
const WS = `ws-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  useMemorySecrets();
  setEnv({
    ALLOW_LOOPBACK_TARGETS: 'true',
    RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '100000',
    WEBHOOK_DISABLE_AFTER_CONSECUTIVE_FAILURES: '2',
  });
  resetDlqUrl();
  receiver = await startReceiver();
  id = await testIdentity();
  admin = await id.jwt('alice', [{ id: WS, role: 'admin' }]);
  operator = await id.jwt('olga', [{ id: 'ws-ops', role: 'member' }], { operator: true });
  for (const url of [local.current.urls.ingest, local.current.urls.deliveries]) {
    await sqs().send(new PurgeQueueCommand({ QueueUrl: url }));
  }
});
afterAll(async () => {
  await receiver?.close();
});

const webhooks = async (token = admin) => {
  const res = await invoke(getWorkspaceStatus, routes.workspaceStatus, { token });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res;
};
const view = async () => (await webhooks()).body.features.webhooks;

async function endpoint(path: string, status: number) {
  receiver.on(path, () => ({ status }));
  const res = await invoke(createWebhook, routes.createWebhook, {
    token: admin,
    body: { name: path, url: receiver.url(path), events: { 'task.created': true }, retry_policy: 'NONE' },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  receiver.setSecret(path, res.body.secret);
  return res.body.id as string;
}

const patch = (endpointId: string, active: boolean) =>
  invoke(updateWebhook, routes.updateWebhook, { token: admin, params: { id: endpointId }, body: { active } });

async function emit(): Promise<string> {
  const event = {
    id: `evt_${randomBytes(6).toString('hex')}`,
    type: 'task.created',
    workspace_id: WS,
    occurred_at: new Date().toISOString(),
    data: { task_id: 't1' },
  };
  await sqs().send(
    new SendMessageCommand({ QueueUrl: local.current.urls.ingest, MessageBody: JSON.stringify(event) }),
  );
  return event.id;
}

describe('GET /status/workspace: webhooks', () => {
  it('counts endpoints active and disabled, and the last 24 hours of deliveries by status', async () => {
    const ok = await endpoint('/ok', 200);
    const failing = await endpoint('/failing', 500);
    const off = await endpoint('/off', 200);
    expect((await view()).endpoints).toEqual({ active: 3 });

    // Switched off twice (a retried PATCH), on, then off again: counted once each way.
    expect((await patch(off, false)).status).toBe(200);
    expect((await patch(off, false)).status).toBe(200);
    expect((await view()).endpoints).toEqual({ active: 2, disabled: 1 });
    expect((await patch(off, true)).status).toBe(200);
    expect((await view()).endpoints).toEqual({ active: 3, disabled: 0 });
    expect((await patch(off, false)).status).toBe(200);

    // One event: a delivery to each active endpoint, one DELIVERED, one FAILED (no retries).
    const eventId = await emit();
    const clock = new Clock(Date.now());
    await pump({ local: local.current, clock });
    // Counted from their first recorded outcome: never PENDING, as no retry was due.
    expect((await view()).deliveries_24h).toEqual({ DELIVERED: 1, FAILED: 1 });

    // Redelivered: PENDING again, then FAILED a second time in a row, which disables the endpoint.
    const again = await invoke(redeliver, routes.redeliver, {
      token: admin,
      params: { id: failing, delivery_id: deliveryId(eventId, failing) },
    });
    expect(again.status, JSON.stringify(again.body)).toBe(202);
    expect((await view()).deliveries_24h).toEqual({ PENDING: 1, DELIVERED: 1, FAILED: 0 });
    await pump({ local: local.current, clock });
    const after = await view();
    expect(after.deliveries_24h).toEqual({ PENDING: 0, DELIVERED: 1, FAILED: 1 });
    expect(after.endpoints).toEqual({ active: 1, disabled: 2 });

    // Deleted (twice: the second is a 404 and changes nothing).
    expect(
      (await invoke(deleteWebhook, routes.deleteWebhook, { token: admin, params: { id: off } })).status,
    ).toBe(204);
    expect(
      (await invoke(deleteWebhook, routes.deleteWebhook, { token: admin, params: { id: off } })).status,
    ).toBe(404);
    expect((await view()).endpoints).toEqual({ active: 1, disabled: 1 });
    expect(ok).toMatch(/^wh_/);

    // The operator's service-wide view holds the same numbers (this table has one workspace).
    const op = (await webhooks(operator)).body.service.features.webhooks;
    expect(op).toEqual(await view());
  });
});
