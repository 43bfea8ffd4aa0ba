import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '#shared/client/index.ts';
import { eventually, useLocalStack } from '#test/helpers/local-stack.ts';
import { type Receiver, startReceiver } from '#test/integration/webhooks/webhooks-harness.ts';

/**
 * GET /status/workspace against the running local stack, through the typed client: things are
 * created, an event is emitted on the ingest queue as an event source would, and the workspace's
 * counters move (tokens, webhook endpoints, deliveries of the last 24 h).
 */
const e2e = useLocalStack('client-status');
let receiver: Receiver;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver?.close();
});

type Features = {
  tokens?: { active?: number };
  webhooks?: { endpoints?: { active?: number; disabled?: number }; deliveries_24h?: Record<string, number> };
};

describe('typed client: status counters move', () => {
  it('counts a new token, a new endpoint and its delivery', async () => {
    const api = createClient({ baseUrl: e2e.stack.baseUrl, token: await e2e.session(), throwOnError: true });
    const features = async () => {
      const { data } = await api.GET('/v1/integration/status/workspace');
      return (data as { features: Features }).features;
    };
    const before = await features();
    const tokens0 = before.tokens?.active ?? 0;
    const endpoints0 = before.webhooks?.endpoints?.active ?? 0;
    const delivered0 = before.webhooks?.deliveries_24h?.DELIVERED ?? 0;

    await api.POST('/v1/integration/tokens', { body: { name: 'status e2e', scopes: ['read:webhooks'] } });
    const { data: ep } = await api.POST('/v1/integration/webhooks', {
      body: { name: 'status e2e', url: receiver.url('/status'), events: { 'task.created': true } },
    });
    const afterCreate = await features();
    expect(afterCreate.tokens?.active).toBe(tokens0 + 1);
    expect(afterCreate.webhooks?.endpoints?.active).toBe(endpoints0 + 1);

    await e2e.emit({
      id: 'evt_status_1',
      type: 'task.created',
      workspace_id: 'ws1',
      data: { task_id: 't1' },
    });

    // The delivery is counted from its recorded outcome.
    const delivered = await eventually(async () => {
      const f = await features();
      return (f.webhooks?.deliveries_24h?.DELIVERED ?? 0) === delivered0 + 1 ? f : undefined;
    });
    expect(receiver.received.some((r) => r.path === '/status')).toBe(true);

    // Disabling the endpoint moves it from active to disabled.
    await api.PATCH('/v1/integration/webhooks/{id}', {
      params: { path: { id: ep.id } },
      body: { active: false },
    });
    const afterDisable = await features();
    expect(afterDisable.webhooks?.endpoints?.active).toBe(endpoints0);
    expect(afterDisable.webhooks?.endpoints?.disabled).toBe(
      (delivered.webhooks?.endpoints?.disabled ?? 0) + 1,
    );
  });
});
