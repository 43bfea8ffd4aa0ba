import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handler as createConnection } from '#functions/oauth/create-connection.ts';
import { handler as callback } from '#functions/oauth/oauth-callback.ts';
import { handler as refreshEndpoint } from '#functions/oauth/refresh-connection.ts';
import { routes } from '#functions/routes.ts';
import { handler as refreshWorker } from '#functions/workers/refresh-oauth-connections.ts';
import { decrypt } from '#shared/crypto.ts';
import { getConnection, reload } from '#shared/oauth/connections-repo.ts';
import { accessTokenFor, MAX_REFRESH_ATTEMPTS, refreshDueConnections } from '#shared/oauth/refresh.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { useOAuthEnv } from '#test/helpers/oauth-setup.ts';

const env = useOAuthEnv();
let alice: string;
let bob: string;

beforeAll(async () => {
  alice = await env.id.jwt('alice', 'ws1');
  bob = await env.id.jwt('bob', 'ws1');
});
beforeEach(() => {
  env.provider.expiresIn = 3600;
  env.provider.refreshDelayMs = 0;
});

/** A connection made through the real flow, so the provider knows its refresh token. */
async function connect(token = alice) {
  const auth = await invoke(createConnection, routes.createConnection, {
    token,
    body: { oauth_app_id: 'fake' },
  });
  const back = await env.provider.authorize(auth.body.authorization_url);
  const res = await invoke(callback, routes.oauthCallback, {
    token,
    body: { state: back.get('state'), code: back.get('code') },
  });
  expect(res.status).toBe(201);
  return (await getConnection('ws1', token === alice ? 'alice' : 'bob', res.body.id))!;
}

const later = (ms: number) => () => new Date(Date.now() + ms);
const MIN = 60_000;

describe('manual refresh', () => {
  it('renews the access token, rotates the refresh token and reschedules', async () => {
    const conn = await connect();
    const calls = env.provider.calls.refresh;
    const res = await invoke(refreshEndpoint, routes.refreshConnection, {
      token: alice,
      params: { id: conn.id },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: conn.id,
      status: 'ACTIVE',
      refresh_attempts: 0,
      access_token: '[hidden]',
    });
    expect(res.body.last_refreshed_at).toEqual(expect.any(String));
    expect(env.provider.calls.refresh).toBe(calls + 1);
    const stored = (await reload(conn))!;
    expect(await decrypt(stored.access_token_sealed, conn.id)).toBe(env.provider.issued.at(-2));
    expect(await decrypt(stored.refresh_token_sealed!, conn.id)).toBe(env.provider.issued.at(-1));
    expect(stored.lease_owner).toBeUndefined();
    expect(stored.next_refresh_at).toBe(res.body.next_refresh_at);
  });

  it("answers 404 for another user's connection and 409 without a refresh token", async () => {
    const conn = await connect();
    expect(
      (await invoke(refreshEndpoint, routes.refreshConnection, { token: bob, params: { id: conn.id } }))
        .status,
    ).toBe(404);
    const direct = await invoke(createConnection, routes.createConnection, {
      token: alice,
      body: { oauth_app_id: 'fake', access_token: 'only-access' },
    });
    const res = await invoke(refreshEndpoint, routes.refreshConnection, {
      token: alice,
      params: { id: direct.body.id },
    });
    expect(res.status).toBe(409);
  });

  it('answers 502 and marks the connection EXPIRED when the provider answers invalid_grant', async () => {
    const conn = await connect();
    env.provider.revokeAllRefreshTokens();
    const res = await invoke(refreshEndpoint, routes.refreshConnection, {
      token: alice,
      params: { id: conn.id },
    });
    expect(res.status).toBe(502);
    expect(res.body.provider_error).toBe('invalid_grant');
    const stored = (await reload(conn))!;
    expect(stored.status).toBe('EXPIRED');
    expect(stored.last_error).toMatchObject({ code: 'invalid_grant' });
    expect(stored.gsi1pk).toBeUndefined();
    expect(stored.lease_owner).toBeUndefined();
  });

  it('records a transient failure as ERROR with a cooldown, and gives up after the bounded attempts', async () => {
    const conn = await connect();
    const before = Date.now();
    env.provider.failNextToken({ status: 500, body: JSON.stringify({ error: 'server_error' }) });
    const res = await invoke(refreshEndpoint, routes.refreshConnection, {
      token: alice,
      params: { id: conn.id },
    });
    expect(res.status).toBe(502);
    let stored = (await reload(conn))!;
    expect(stored).toMatchObject({
      status: 'ERROR',
      refresh_attempts: 1,
      last_error: { code: 'server_error' },
    });
    expect(Date.parse(stored.next_refresh_at!) - before).toBeGreaterThanOrEqual(60_000);
    expect(stored.gsi1sk?.startsWith(stored.next_refresh_at!)).toBe(true);
    for (let i = 1; i < MAX_REFRESH_ATTEMPTS; i++) {
      env.provider.failNextToken({ status: 503, body: '' });
      await invoke(refreshEndpoint, routes.refreshConnection, { token: alice, params: { id: conn.id } });
    }
    stored = (await reload(conn))!;
    expect(stored.refresh_attempts).toBe(MAX_REFRESH_ATTEMPTS);
    expect(stored.status).toBe('ERROR');
    expect(stored.gsi1pk).toBeUndefined();
    // A later success clears the failure count and schedules again.
    const ok = await invoke(refreshEndpoint, routes.refreshConnection, {
      token: alice,
      params: { id: conn.id },
    });
    expect(ok.body).toMatchObject({ status: 'ACTIVE', refresh_attempts: 0 });
    expect((await reload(conn))!.gsi1pk).toMatch(/^OAUTHEXP#/);
  });

  it('marks a refresh token older than OAUTH_REFRESH_TOKEN_EXPIRY_DAYS EXPIRED without calling the provider', async () => {
    const conn = await connect();
    const calls = env.provider.calls.refresh;
    await expect(accessTokenFor(conn, { now: later(31 * 24 * 60 * MIN) })).rejects.toMatchObject({
      status: 409,
    });
    expect(env.provider.calls.refresh).toBe(calls);
  });
});

describe('accessTokenFor', () => {
  it('returns the stored token without a provider call while it is not due', async () => {
    const conn = await connect();
    const calls = env.provider.calls.refresh;
    const token = await accessTokenFor(conn);
    expect(token.accessToken).toBe(await decrypt(conn.access_token_sealed, conn.id));
    expect(token.tokenType).toBe('Bearer');
    expect(env.provider.calls.refresh).toBe(calls);
  });

  it('refreshes first when the token expires within OAUTH_REFRESH_MARGIN_SECONDS', async () => {
    const conn = await connect();
    const old = await decrypt(conn.access_token_sealed, conn.id);
    const token = await accessTokenFor(conn, { now: later(56 * MIN) });
    expect(token.accessToken).not.toBe(old);
    expect(token.accessToken).toBe(env.provider.issued.at(-2));
  });

  it('returns the still valid token when the refresh fails transiently', async () => {
    const conn = await connect();
    env.provider.failNextToken({ status: 502, body: '' });
    const token = await accessTokenFor(conn, { now: later(56 * MIN) });
    expect(token.accessToken).toBe(await decrypt(conn.access_token_sealed, conn.id));
    expect((await reload(conn))!.status).toBe('ERROR');
  });

  it('makes one provider call for two refreshes at once, and the rotated refresh token keeps working', async () => {
    const conn = await connect();
    env.provider.refreshDelayMs = 300;
    const calls = env.provider.calls.refresh;
    const [a, b] = await Promise.all([
      accessTokenFor(conn, { now: later(56 * MIN) }),
      accessTokenFor(conn, { now: later(56 * MIN) }),
    ]);
    expect(env.provider.calls.refresh).toBe(calls + 1);
    expect(a.accessToken).toBe(b.accessToken);
    // The refresh token stored is the rotated one: a further refresh succeeds at the provider.
    env.provider.refreshDelayMs = 0;
    const again = await invoke(refreshEndpoint, routes.refreshConnection, {
      token: alice,
      params: { id: conn.id },
    });
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('ACTIVE');
  });

  it('makes one provider call for two manual refreshes at once', async () => {
    const conn = await connect();
    env.provider.refreshDelayMs = 300;
    const calls = env.provider.calls.refresh;
    const [a, b] = await Promise.all([
      invoke(refreshEndpoint, routes.refreshConnection, { token: alice, params: { id: conn.id } }),
      invoke(refreshEndpoint, routes.refreshConnection, { token: alice, params: { id: conn.id } }),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(env.provider.calls.refresh).toBe(calls + 1);
    expect(a.body.last_refreshed_at).toBe(b.body.last_refreshed_at);
  });
});

describe('scheduled refresh', () => {
  it('refreshes the connections due before the next run, found through gsi1, and no others', async () => {
    // Bob's connections only, so other tests' connections are not involved: they are due later.
    env.provider.expiresIn = 7200;
    const far = await connect(bob);
    env.provider.expiresIn = 600; // due within margin (300 s) + lookahead (300 s)
    const soon = await connect(bob);
    const stats = await refreshDueConnections({ now: later(10_000) });
    expect(stats.refreshed).toBeGreaterThanOrEqual(1);
    expect((await reload(soon))!.last_refreshed_at).toEqual(expect.any(String));
    expect((await reload(far))!.last_refreshed_at).toBeUndefined();
  });

  it('runs as the scheduled worker handler', async () => {
    env.provider.expiresIn = 120;
    const conn = await connect(bob);
    const first = await refreshWorker({ source: 'aws.events' });
    expect(first.failed).toBe(0);
    const after = (await reload(conn))!;
    expect(after.last_refreshed_at).toEqual(expect.any(String));
    env.provider.expiresIn = 3600;
  });
});
