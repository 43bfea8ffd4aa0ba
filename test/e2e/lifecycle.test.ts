import { describe, expect, it } from 'vitest';
import { eventually, useLocalStack } from '#test/helpers/local-stack.ts';

const e2e = useLocalStack('lifecycle');

/** Sends an event of `type` to the running stack's ingest queue, under a new id. */
const emit = (type: string, workspaceId: string, data: unknown) =>
  e2e.emit({ id: `evt_${Math.random().toString(36).slice(2)}`, type, workspace_id: workspaceId, data });

type Status = { background?: { name: string; in_progress: number }[] };

describe('lifecycle cascades over the local runtime (queues, workers and their grants)', () => {
  it('refuses a deleted workspace at once and sweeps it on the lifecycle queue, GET /status following', async () => {
    const session = await e2e.session('e2e-owner', [{ id: 'wsE2E', role: 'admin' }]);
    const created = await e2e.call('/tokens', session, {
      method: 'POST',
      body: JSON.stringify({ name: 'doomed', scopes: ['read:webhooks'] }),
    });
    expect(created.status).toBe(201);
    const token = ((await created.json()) as { token: string }).token;
    expect((await e2e.call('/rate-limit', token)).status).toBe(200);

    await emit('workspace.deleted', 'wsE2E', {});
    await eventually(async () => ((await e2e.call('/rate-limit', token)).status === 401 ? true : undefined));
    expect((await e2e.call('/rate-limit', session)).status).toBe(403);
    const line = await eventually(async () => {
      const status = (await (await fetch(`${e2e.api}/status`)).json()) as Status;
      const l = status.background?.find((b) => b.name === 'lifecycle_cascades');
      return l && l.in_progress === 0 ? l : undefined;
    });
    expect(line).toMatchObject({ in_progress: 0 });
  }, 60_000);

  it('accepts user.deleted, plugin.deleted and oauth_app.deleted like npm run -s emit sends them', async () => {
    const session = await e2e.session('e2e-u', [{ id: 'wsE2', role: 'admin' }]);
    expect((await e2e.call('/rate-limit', session)).status).toBe(200);
    await emit('plugin.deleted', 'wsE2', { plugin_id: 'not-a-plugin' });
    await emit('oauth_app.deleted', 'wsE2', { oauth_app_id: 'not-an-app' });
    await emit('user.deleted', 'wsE2', { user_id: 'e2e-u' });
    await eventually(async () =>
      (await e2e.call('/rate-limit', session)).status === 401 ? true : undefined,
    );
    const inProgress = async () => {
      const status = (await (await fetch(`${e2e.api}/status`)).json()) as Status;
      return status.background?.find((b) => b.name === 'lifecycle_cascades')?.in_progress ?? 0;
    };
    // The user's sweep reads the byUser index once more 5 s after its last page: in progress meanwhile.
    await eventually(async () => ((await inProgress()) >= 1 ? true : undefined));
    await eventually(async () => ((await inProgress()) === 0 ? true : undefined), 30_000);
  }, 60_000);
});
