import { beforeAll, describe, expect, it } from 'vitest';
import { eventually, useLocalStack } from '#test/helpers/local-stack.ts';

const e2e = useLocalStack('tokens', {
  env: {
    RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '5',
    RATE_LIMIT_TIER_PRO_REQ_PER_MIN: '100',
    RATE_LIMIT_WINDOW_SECONDS: '3600',
  },
});
let session: string;
beforeAll(async () => {
  session = await e2e.session();
});
const call = (path: string, token: string, init?: RequestInit) => e2e.call(path, token, init);

describe('API tokens over HTTP', () => {
  it('creates a token, calls with it, hits 429 (shared with the session, not with token management), upgrades, reads usage logs, revokes and gets 401', async () => {
    const created = await call('/tokens', session, {
      method: 'POST',
      body: JSON.stringify({ name: 'e2e', scopes: ['read:webhooks'] }),
    });
    expect(created.status).toBe(201);
    const token = (await created.json()) as { id: string; token: string };

    // The creation spent the user's token-management budget, not the API budget the token spends.
    expect(created.headers.get('x-ratelimit-resource')).toBe('management');
    const first = await call('/rate-limit', token.token);
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-policy')).toBe('"free";q=5;w=3600');
    expect(first.headers.get('x-ratelimit-resource')).toBe('api');
    expect(first.headers.get('x-ratelimit-remaining')).toBe('4');
    expect(first.headers.get('x-ratelimit-used')).toBe('1');

    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await call('/rate-limit', token.token)).status);
    expect(statuses).toEqual([200, 200, 200, 200]);
    const limited = await call('/rate-limit', token.token);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.get('content-type')).toBe('application/problem+json');
    // The session shares the API budget with the token, but managing tokens still works.
    expect((await call('/rate-limit', session)).status).toBe(429);
    expect((await call('/tokens', session)).status).toBe(200);

    // A plan change on the ingest queue raises the limit of the whole workspace.
    await e2e.emit({
      id: 'evt_plan_1',
      type: 'workspace.plan_changed',
      workspace_id: 'ws1',
      data: { plan: 'pro' },
    });
    const policy = await eventually(async () => {
      const res = await call('/rate-limit', session);
      return res.status === 200 ? res.headers.get('ratelimit-policy') : undefined;
    });
    expect(policy).toBe('"pro";q=100;w=3600');

    const logs = await eventually(async () => {
      const res = await call(`/tokens/usage-logs?token_id=${token.id}`, session);
      const body = (await res.json()) as {
        data: { status: number }[];
        aggregates: { by_status: Record<string, number> };
      };
      return body.data?.length >= 6 ? body : undefined;
    });
    expect(logs.aggregates.by_status).toEqual({ '200': 5, '429': 1 });
    const meta = (await (await call(`/tokens/${token.id}`, session)).json()) as {
      last_used_at: string | null;
    };
    expect(meta.last_used_at).not.toBeNull();

    expect((await call(`/tokens/${token.id}`, session, { method: 'DELETE' })).status).toBe(204);
    const after = await call('/rate-limit', token.token);
    expect(after.status).toBe(401);
    expect(after.headers.get('www-authenticate')).toContain('invalid_token');
  });

  it('revokes the tokens of a user removed from the workspace (ingest queue)', async () => {
    const bob = await e2e.session('bob', [{ id: 'ws1', role: 'member' }]);
    const created = await call('/tokens', bob, {
      method: 'POST',
      body: JSON.stringify({ name: 'bob', scopes: ['read:tasks'] }),
    });
    expect(created.status).toBe(201);
    const token = (await created.json()) as { id: string; token: string };
    expect((await call('/rate-limit', token.token)).status).toBe(200);

    await e2e.emit({
      id: 'evt_removed_1',
      type: 'workspace.member_removed',
      workspace_id: 'ws1',
      data: { user_id: 'bob' },
    });
    const status = await eventually(async () => {
      const res = await call('/rate-limit', token.token);
      return res.status === 401 ? res.status : undefined;
    });
    expect(status).toBe(401);
    // Bob's session, issued before the removal, can no longer mint a token (admin scopes or not).
    const again = await call('/tokens', bob, {
      method: 'POST',
      body: JSON.stringify({ name: 'bob again', scopes: ['read:tasks'] }),
    });
    expect(again.status).toBe(403);
    expect(((await again.json()) as { detail: string }).detail).toMatch(
      /no longer a member of workspace 'ws1'/,
    );
  });
});
