/**
 * Operational webhooks of the webhooks feature: an endpoint disabled automatically raises
 * `webhook_endpoint.disabled` (with the reason), delivered like a product event to the other
 * subscribed endpoints of the workspace, never to the disabled endpoint itself.
 */
import { randomBytes } from 'node:crypto';
import { PurgeQueueCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { webhooks } from '#functions/webhooks/feature.ts';
import { sqs } from '#shared/queues.ts';
import { isKnownEventType } from '#shared/webhooks/catalog.ts';
import { createEndpoint, getEndpoint } from '#shared/webhooks/endpoints.ts';
import { isAboutEndpoint } from '#shared/webhooks/operational-events.ts';
import { setEnv, useTestSqs, useTestTable } from '#test/helpers/env.ts';
import { useMemorySecrets } from '#test/helpers/secrets.ts';
import { type Behaviour, Clock, pump, type Receiver, startReceiver } from './webhooks-harness.ts';

useTestTable();
const local = useTestSqs();
let receiver: Receiver;
let clock: Clock;

const baseEnv = {
  ALLOW_LOOPBACK_TARGETS: 'true',
  WEBHOOK_MAX_RETRIES: '3',
  WEBHOOK_RETRY_BACKOFF_SECONDS: '60',
  WEBHOOK_TIMEOUT_SECONDS: '5',
  WEBHOOK_DELIVERY_TTL_HOURS: '24',
  WEBHOOK_DISABLE_AFTER_CONSECUTIVE_FAILURES: '2',
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
  clock = new Clock(Math.floor(Date.now() / 1000) * 1000);
  receiver.clock = clock;
  for (const url of [local.current.urls.ingest, local.current.urls.deliveries]) {
    await sqs().send(new PurgeQueueCommand({ QueueUrl: url }));
  }
});

const ws = () => `ws-${randomBytes(4).toString('hex')}`;
let paths = 0;

async function endpointFor(workspace: string, behaviour: Behaviour, events: string[]) {
  const path = `/op-hook-${++paths}`;
  const { view, secret } = await createEndpoint(
    workspace,
    'u1',
    {
      name: path,
      url: receiver.url(path),
      events: Object.fromEntries(events.map((t) => [t, true])),
      retry_policy: 'NONE',
    },
    new Date(clock.t),
  );
  receiver.on(path, behaviour, secret);
  return { id: view.id, path };
}

async function emit(workspace: string) {
  const event = {
    id: `evt_${randomBytes(6).toString('hex')}`,
    type: 'task.created',
    workspace_id: workspace,
    occurred_at: new Date(clock.t).toISOString(),
    data: { task_id: 't1', title: 'Hello' },
  };
  await sqs().send(
    new SendMessageCommand({ QueueUrl: local.current.urls.ingest, MessageBody: JSON.stringify(event) }),
  );
}

const bodiesTo = (path: string) =>
  receiver.received
    .filter((r) => r.path === path)
    .map((r) => ({
      ...(JSON.parse(r.body) as { type: string; data: Record<string, unknown> }),
      verified: r.verified,
    }));

describe('webhook_endpoint.disabled', () => {
  it('is catalogued and consumed by the webhooks feature', () => {
    expect(isKnownEventType('webhook_endpoint.disabled')).toBe(true);
    expect(webhooks.consumes).toContain('webhook_endpoint.disabled');
  });

  it('is raised once when the failure streak disables an endpoint, and reaches another endpoint but not the disabled one', async () => {
    const w = ws();
    const failing = await endpointFor(w, () => ({ status: 500 }), [
      'task.created',
      'webhook_endpoint.disabled',
    ]);
    const watcher = await endpointFor(w, () => ({ status: 200 }), ['webhook_endpoint.disabled']);
    await emit(w);
    await pump({ local: local.current, clock });
    expect(bodiesTo(watcher.path)).toEqual([]);
    await emit(w);
    await pump({ local: local.current, clock });
    expect(await getEndpoint(w, failing.id)).toMatchObject({
      active: false,
      disabled_reason: 'Disabled after 2 consecutive failed deliveries',
    });
    const seen = bodiesTo(watcher.path);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      type: 'webhook_endpoint.disabled',
      verified: true,
      data: {
        endpoint_id: failing.id,
        url: receiver.url(failing.path),
        reason: 'Disabled after 2 consecutive failed deliveries',
        consecutive_failures: 2,
        disabled_at: expect.any(String),
      },
    });
    // The disabled endpoint got only its two task.created attempts, not the event about itself.
    expect(bodiesTo(failing.path).map((b) => b.type)).toEqual(['task.created', 'task.created']);
  });

  it('is raised with the reason when an endpoint answers 410 Gone', async () => {
    const w = ws();
    const gone = await endpointFor(w, () => ({ status: 410 }), ['task.created']);
    const watcher = await endpointFor(w, () => ({ status: 200 }), ['webhook_endpoint.disabled']);
    await emit(w);
    await pump({ local: local.current, clock });
    expect(bodiesTo(watcher.path)).toMatchObject([
      {
        type: 'webhook_endpoint.disabled',
        data: { endpoint_id: gone.id, reason: 'The endpoint answered 410 Gone' },
      },
    ]);
  });

  it('is never fanned out to the endpoint it is about', () => {
    const event = { type: 'webhook_endpoint.disabled', data: { endpoint_id: 'wh_1' } };
    expect(isAboutEndpoint(event, 'wh_1')).toBe(true);
    expect(isAboutEndpoint(event, 'wh_2')).toBe(false);
    expect(isAboutEndpoint({ type: 'task.created', data: { endpoint_id: 'wh_1' } }, 'wh_1')).toBe(false);
  });
});
