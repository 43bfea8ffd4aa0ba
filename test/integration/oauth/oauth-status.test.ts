/**
 * The OAuth part of GET /status/workspace: connections by stored status and those whose grant
 * ends within 7 days, moved by real transitions (the flow, direct connections, refresh outcomes
 * through the handler, deletion).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { handler as createConnection } from '#functions/oauth/create-connection.ts';
import { handler as deleteConnection } from '#functions/oauth/delete-connection.ts';
import { handler as refreshConnection } from '#functions/oauth/refresh-connection.ts';
import { routes } from '#functions/routes.ts';
import { handler as getWorkspaceStatus } from '#functions/system/get-workspace-status.ts';
import { setEnv } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { connectThroughFlow, useOAuthEnv } from '#test/helpers/oauth-setup.ts';

const env = useOAuthEnv();
let alice: string;
let operator: string;

beforeAll(async () => {
  setEnv({ RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '100000' });
  alice = await env.id.jwt('alice', 'ws1');
  operator = await env.id.jwt('olga', [{ id: 'ws-ops', role: 'member' }], { operator: true });
});

const status = async (token = alice) => {
  const res = await invoke(getWorkspaceStatus, routes.workspaceStatus, { token });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
};
const view = async () => (await status()).features.oauth;
const refresh = (id: string) =>
  invoke(refreshConnection, routes.refreshConnection, { token: alice, params: { id } });

describe('GET /status/workspace: OAuth connections', () => {
  it('counts connections by status and those expiring within 7 days as they change', async () => {
    // Through the flow: a refresh token issued now, good for 30 days (OAUTH_REFRESH_TOKEN_EXPIRY_DAYS).
    const flow = await connectThroughFlow(env, alice, 'alice');
    // Direct, no refresh token, an access token good for 3 days: its grant ends then.
    const direct = await invoke(createConnection, routes.createConnection, {
      token: alice,
      body: { oauth_app_id: 'fake', access_token: 'direct-access', expires_in: 3 * 86_400 },
    });
    expect(direct.status, JSON.stringify(direct.body)).toBe(201);
    expect(await view()).toEqual({ connections: { ACTIVE: 2 }, expiring: 2, expiring_7d: 1 });

    // A transient provider failure: ERROR; then a refresh that works: ACTIVE again.
    env.provider.failNextToken({ status: 500, body: JSON.stringify({ error: 'server_error' }) });
    expect((await refresh(flow.id)).status).toBe(502);
    expect((await view()).connections).toEqual({ ACTIVE: 1, ERROR: 1 });
    expect((await refresh(flow.id)).status).toBe(200);
    expect(await view()).toEqual({ connections: { ACTIVE: 2, ERROR: 0 }, expiring: 2, expiring_7d: 1 });

    // The provider says the grant is dead: EXPIRED, and no longer expiring.
    env.provider.failNextToken({ status: 400, body: JSON.stringify({ error: 'invalid_grant' }) });
    expect((await refresh(flow.id)).status).toBe(502);
    expect(await view()).toEqual({
      connections: { ACTIVE: 1, ERROR: 0, EXPIRED: 1 },
      expiring: 1,
      expiring_7d: 1,
    });

    // Deleted (a second delete is a 404 and counts nothing).
    for (const [id, expected] of [
      [flow.id, 204],
      [flow.id, 404],
      [direct.body.id, 204],
    ] as const) {
      const res = await invoke(deleteConnection, routes.deleteConnection, { token: alice, params: { id } });
      expect(res.status).toBe(expected);
    }
    expect(await view()).toEqual({
      connections: { ACTIVE: 0, ERROR: 0, EXPIRED: 0 },
      expiring: 0,
      expiring_7d: 0,
    });
    expect((await status(operator)).service.features.oauth).toEqual(await view());
  });
});
