import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually as until, useLocalStack } from '#test/helpers/local-stack.ts';
import { type Receiver, startReceiver } from '#test/integration/webhooks/webhooks-harness.ts';

const e2e = useLocalStack('webhooks');
let receiver: Receiver;
let jwt: string;

beforeAll(async () => {
  jwt = await e2e.session();
  receiver = await startReceiver();
});

afterAll(async () => {
  await receiver?.close();
});

const api = (path: string, init: RequestInit = {}) => e2e.call(path, jwt, init);

describe('webhooks end to end (local runtime)', () => {
  it('delivers an ingested event to a verifying receiver and shows it in the delivery history', async () => {
    const created = await api('/webhooks', {
      method: 'POST',
      body: JSON.stringify({ name: 'e2e', url: receiver.url('/e2e'), events: { 'task.created': true } }),
    });
    expect(created.status).toBe(201);
    const ep = (await created.json()) as { id: string; secret: string };
    receiver.setSecret('/e2e', ep.secret);

    const event = {
      id: 'evt_e2e_1',
      type: 'task.created',
      workspace_id: 'ws1',
      occurred_at: new Date().toISOString(),
      data: { task_id: 't1' },
    };
    // Sent twice: SQS may deliver an event more than once.
    for (let i = 0; i < 2; i++) await e2e.emit(event);

    const list = await until(async () => {
      const res = await api(`/webhooks/${ep.id}/deliveries`);
      const body = (await res.json()) as { data: { id: string; status: string }[] };
      return body.data[0]?.status === 'DELIVERED' ? body : undefined;
    });
    expect(list.data).toHaveLength(1);
    // One record; the copy of the event, handed out for the first time beside the first, may
    // POST a second time with the same webhook-id (receivers de-duplicate on it).
    const got = receiver.received.filter((r) => r.path === '/e2e');
    expect(got.length).toBeGreaterThanOrEqual(1);
    expect(got.length).toBeLessThanOrEqual(2);
    for (const r of got) {
      expect(r.verified).toBe(true);
      expect(r.headers['webhook-id']).toBe(list.data[0]?.id);
    }

    const detail = (await (await api(`/webhooks/${ep.id}/deliveries/${list.data[0]?.id}`)).json()) as {
      attempts: unknown[];
    };
    expect(detail.attempts[0]).toMatchObject({
      response: { status: 200 },
      request: { headers: { 'webhook-id': list.data[0]?.id } },
    });
    const endpoint = (await (await api(`/webhooks/${ep.id}`)).json()) as { stats: unknown };
    expect(endpoint.stats).toMatchObject({
      last_delivery_status: 'DELIVERED',
      recent: { delivered: 1, success_rate: 1 },
    });
  });
});
