import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { routes } from '#functions/routes.ts';
import { handler as getRateLimit } from '#functions/tokens/get-rate-limit.ts';
import { handler as getToken } from '#functions/tokens/get-token.ts';
import { handler as listTokens } from '#functions/tokens/list-tokens.ts';
import { handler as revokeToken } from '#functions/tokens/revoke-token.ts';
import { handler as updateToken } from '#functions/tokens/update-token.ts';
import { setEnv, useTestTable } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { type TestIdentity, testIdentity } from '#test/helpers/session.ts';
import { seedToken } from '#test/helpers/tokens.ts';

/**
 * A leaked token must not lock its owner out of revoking it: the token can spend the user's API
 * budget, but token management has a budget of its own that no token can spend, and revoking or
 * deactivating a token is never refused.
 */
useTestTable();
let id: TestIdentity;
beforeAll(async () => {
  id = await testIdentity();
});
beforeEach(() => {
  setEnv({ RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '3' });
  // Mid-window, so a test never straddles two windows.
  vi.spyOn(Date, 'now').mockReturnValue(Math.floor(Date.now() / 60_000) * 60_000 + 30_000);
});
afterEach(() => {
  vi.restoreAllMocks();
  setEnv({ RATE_LIMIT_TIER_FREE_REQ_PER_MIN: undefined });
});

const RATE_HEADERS = [
  'ratelimit',
  'ratelimit-policy',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'x-ratelimit-used',
  'x-ratelimit-resource',
];

/** A user whose token has spent the whole API budget of the window (the attacker keeps it so). */
async function exhaustedBy(user: string) {
  const leaked = await seedToken({ userId: user, workspaceId: 'wsB', scopes: ['read:tasks'] });
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++)
    statuses.push((await invoke(getRateLimit, routes.getRateLimit, { token: leaked.value })).status);
  expect(statuses).toEqual([200, 200, 200, 429]);
  const session = await id.jwt(user, [{ id: 'wsB', role: 'member' }]);
  return { leaked, session };
}

describe('a token that exhausts its owner’s budget', () => {
  it('cannot stop the owner from revoking it: 204, and the token is refused from then on', async () => {
    const { leaked, session } = await exhaustedBy('victim1');
    const res = await invoke(revokeToken, routes.revokeToken, { token: session, params: { id: leaked.id } });
    expect(res.status).toBe(204);
    // Exempt: nothing was counted, so no rate-limit header claims anything about it.
    for (const h of RATE_HEADERS) expect(res.headers[h], h).toBeUndefined();
    expect((await invoke(getRateLimit, routes.getRateLimit, { token: leaked.value })).status).toBe(401);
  });

  it('cannot stop the owner from deactivating it (PATCH {"is_active": false})', async () => {
    const { leaked, session } = await exhaustedBy('victim2');
    const res = await invoke(updateToken, routes.updateToken, {
      token: session,
      params: { id: leaked.id },
      body: { is_active: false },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'inactive' });
    for (const h of RATE_HEADERS) expect(res.headers[h], h).toBeUndefined();
    expect((await invoke(getRateLimit, routes.getRateLimit, { token: leaked.value })).status).toBe(401);
  });

  it('cannot stop the owner from reading their tokens: management has a budget of its own', async () => {
    const { leaked, session } = await exhaustedBy('victim3');
    const list = await invoke(listTokens, routes.listTokens, { token: session });
    expect(list.status).toBe(200);
    expect(list.headers['x-ratelimit-resource']).toBe('management');
    expect(list.headers['ratelimit-policy']).toBe('"free-management";q=3;w=60');
    expect(list.headers['x-ratelimit-used']).toBe('1');
    expect(list.headers['x-ratelimit-remaining']).toBe('2');
    // The API budget the token spent is untouched by management calls, and still shared with sessions.
    const api = await invoke(getRateLimit, routes.getRateLimit, { token: session });
    expect(api.status).toBe(429);
    expect(api.headers['x-ratelimit-resource']).toBe('api');
    expect(api.headers['ratelimit-policy']).toBe('"free";q=3;w=60');
    expect(
      (await invoke(getToken, routes.getToken, { token: session, params: { id: leaked.id } })).status,
    ).toBe(200);
  });
});

describe('the management budget', () => {
  it('limits management calls, but never revocation or deactivation', async () => {
    const a = await seedToken({ userId: 'busy', workspaceId: 'wsB', scopes: ['read:tasks'] });
    const b = await seedToken({ userId: 'busy', workspaceId: 'wsB', scopes: ['read:tasks'] });
    const session = await id.jwt('busy', [{ id: 'wsB', role: 'member' }]);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await invoke(listTokens, routes.listTokens, { token: session })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const rename = await invoke(updateToken, routes.updateToken, {
      token: session,
      params: { id: a.id },
      body: { name: 'renamed' },
    });
    expect(rename.status).toBe(429);
    expect(rename.headers['x-ratelimit-resource']).toBe('management');
    // Only a bare deactivation is exempt: with another field it is a management call like any.
    const offAndRename = await invoke(updateToken, routes.updateToken, {
      token: session,
      params: { id: a.id },
      body: { is_active: false, name: 'x' },
    });
    expect(offAndRename.status).toBe(429);
    const off = await invoke(updateToken, routes.updateToken, {
      token: session,
      params: { id: a.id },
      body: { is_active: false },
    });
    expect(off.status).toBe(200);
    expect(
      (await invoke(revokeToken, routes.revokeToken, { token: session, params: { id: b.id } })).status,
    ).toBe(204);
    // Switching a token back on is a management call again.
    const on = await invoke(updateToken, routes.updateToken, {
      token: session,
      params: { id: a.id },
      body: { is_active: true },
    });
    expect(on.status).toBe(429);
  });

  it('is per user and workspace: another user of the workspace is not affected', async () => {
    const session = await id.jwt('hog', [{ id: 'wsB', role: 'member' }]);
    for (let i = 0; i < 3; i++) await invoke(listTokens, routes.listTokens, { token: session });
    expect((await invoke(listTokens, routes.listTokens, { token: session })).status).toBe(429);
    const other = await id.jwt('calm', [{ id: 'wsB', role: 'member' }]);
    expect((await invoke(listTokens, routes.listTokens, { token: other })).status).toBe(200);
  });
});
