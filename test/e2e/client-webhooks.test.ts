import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, verifyWebhook, WebhookVerificationError } from '#shared/client/index.ts';
import { eventually, useLocalStack } from '#test/helpers/local-stack.ts';
import { type Receiver, startReceiver } from '#test/integration/webhooks/webhooks-harness.ts';

/** The typed client (shared/client) against the running local stack: the webhooks walk-through. */
const e2e = useLocalStack('client-webhooks');
let receiver: Receiver;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver?.close();
});

describe('typed client: webhooks', () => {
  it('creates an endpoint, an ingested event is delivered and verifies with verifyWebhook, the delivery shows in its history', async () => {
    const api = createClient({ baseUrl: e2e.stack.baseUrl, token: await e2e.session(), throwOnError: true });

    const { data: catalog } = await api.GET('/v1/integration/webhooks/events');
    expect(JSON.stringify(catalog)).toContain('task.created');

    const { data: ep } = await api.POST('/v1/integration/webhooks', {
      body: { name: 'client e2e', url: receiver.url('/client'), events: { 'task.created': true } },
    });
    expect(ep.secret).toMatch(/^whsec_/);

    await e2e.emit({
      id: 'evt_client_1',
      type: 'task.created',
      workspace_id: 'ws1',
      data: { task_id: 't1' },
    });

    const page = await eventually(async () => {
      const { data } = await api.GET('/v1/integration/webhooks/{id}/deliveries', {
        params: { path: { id: ep.id } },
      });
      return data.data[0]?.status === 'DELIVERED' ? data : undefined;
    });
    const delivery = page.data[0]!;

    // The receiver got it; the helper verifies the Standard Webhooks signature over the raw body.
    const got = receiver.received.find((r) => r.path === '/client')!;
    const headers = got.headers as Record<string, string>;
    expect(headers['webhook-id']).toBe(delivery.id);
    const payload = verifyWebhook<{ type: string; data: { task_id: string } }>(ep.secret, headers, got.body);
    expect(payload).toMatchObject({ type: 'task.created', data: { task_id: 't1' } });
    expect(() => verifyWebhook(ep.secret, headers, got.body.replace('t1', 't2'))).toThrow(
      WebhookVerificationError,
    );
    expect(() => verifyWebhook(ep.secret, new Headers(headers), got.body)).not.toThrow();

    const { data: detail } = await api.GET('/v1/integration/webhooks/{id}/deliveries/{delivery_id}', {
      params: { path: { id: ep.id, delivery_id: delivery.id } },
    });
    expect(detail.attempts[0]).toMatchObject({ response: { status: 200 } });

    const { data: endpoint } = await api.GET('/v1/integration/webhooks/{id}', {
      params: { path: { id: ep.id } },
    });
    expect(endpoint.stats).toMatchObject({ last_delivery_status: 'DELIVERED' });

    const removed = await api.DELETE('/v1/integration/webhooks/{id}', { params: { path: { id: ep.id } } });
    expect(removed.response.ok).toBe(true);
    const gone = await api.raw.GET('/v1/integration/webhooks/{id}', { params: { path: { id: ep.id } } });
    expect(gone.error?.status).toBe(404);
  });
});
