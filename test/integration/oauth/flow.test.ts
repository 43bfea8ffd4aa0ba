import { createHash } from 'node:crypto';
import { GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { handler as createConnection } from '#functions/oauth/create-connection.ts';
import { handler as deleteConnection } from '#functions/oauth/delete-connection.ts';
import { handler as getConnection } from '#functions/oauth/get-connection.ts';
import { handler as listConnections } from '#functions/oauth/list-connections.ts';
import { handler as callback } from '#functions/oauth/oauth-callback.ts';
import { handler as callbackRedirect } from '#functions/oauth/oauth-callback-redirect.ts';
import { handler as refreshEndpoint } from '#functions/oauth/refresh-connection.ts';
import { routes } from '#functions/routes.ts';
import { decrypt, sha256Hex } from '#shared/crypto.ts';
import { db, tableName } from '#shared/db/client.ts';
import { keys } from '#shared/db/keys.ts';
import { accessTokenAad, openRefreshToken, refreshTokenAad } from '#shared/oauth/connections.ts';
import { getConnection as loadConnection } from '#shared/oauth/connections-repo.ts';
import { setEnv } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { fakeApp } from '#test/helpers/oauth-provider.ts';
import { captureLogs, REDIRECT_BASE, useOAuthEnv } from '#test/helpers/oauth-setup.ts';

const env = useOAuthEnv();
let alice: string;
let bob: string;
let aliceOtherWs: string;

beforeAll(async () => {
  // Many calls per user in this file: not what the rate limit is about.
  setEnv({ RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '100000' });
  // An app without PKCE as well, so that only the provider's single-use rule can refuse a code.
  env.writeApps([
    fakeApp(env.provider),
    fakeApp(env.provider, { id: 'fake-norevoke', revoke_url: null }),
    fakeApp(env.provider, { id: 'fake-unconfigured' }),
    fakeApp(env.provider, { id: 'fake-nopkce', pkce: false }),
  ]);
  env.secrets.set(
    'pronaflow-integrations/oauth/fake-nopkce',
    JSON.stringify({ client_id: env.provider.clientId, client_secret: env.provider.clientSecret }),
  );
  alice = await env.id.jwt('alice', 'ws1');
  bob = await env.id.jwt('bob', 'ws1');
  aliceOtherWs = await env.id.jwt('alice', [
    { id: 'ws1', role: 'admin' },
    { id: 'ws2', role: 'admin' },
  ]);
});

async function start(token: string, body: Record<string, unknown> = { oauth_app_id: 'fake' }) {
  const res = await invoke(createConnection, routes.createConnection, { token, body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { authorization_url: string; state: string; redirect_uri: string; expires_at: string };
}

async function connect(token: string, body?: Record<string, unknown>) {
  const auth = await start(token, body);
  const back = await env.provider.authorize(auth.authorization_url);
  return invoke(callback, routes.oauthCallback, {
    token,
    body: { state: back.get('state'), code: back.get('code') },
  });
}

const rawState = async (state: string) =>
  (await db().send(new GetCommand({ TableName: tableName(), Key: keys.oauthState(sha256Hex(state)) }))).Item;

async function connectionCount(user: string) {
  const { pk, skPrefix } = keys.oauthConnectionsOf('ws1', user);
  const out = await db().send(
    new QueryCommand({
      TableName: tableName(),
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': pk, ':p': skPrefix },
    }),
  );
  return out.Items?.length ?? 0;
}

describe('authorization code + PKCE', () => {
  it('answers 201 with an authorization URL carrying state, client id, scopes and an S256 challenge', async () => {
    const auth = await start(alice, { oauth_app_id: 'fake', scopes: ['read', 'write'] });
    const url = new URL(auth.authorization_url);
    expect(url.origin + url.pathname).toBe(`${env.provider.url}/authorize`);
    expect(url.searchParams.get('client_id')).toBe(env.provider.clientId);
    expect(url.searchParams.get('response_type')).toBe('code');
    expect(url.searchParams.get('scope')).toBe('read write');
    expect(url.searchParams.get('state')).toBe(auth.state);
    expect(url.searchParams.get('redirect_uri')).toBe(`${REDIRECT_BASE}/v1/integration/oauth/callback`);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(auth.state.length).toBeGreaterThanOrEqual(43); // 256 random bits, base64url

    const stored = await rawState(auth.state);
    expect(stored).toMatchObject({
      user_id: 'alice',
      workspace_id: 'ws1',
      app_id: 'fake',
      scopes: ['read', 'write'],
    });
    expect(JSON.stringify(stored)).not.toContain(auth.state);
    const verifier = await decrypt(stored?.code_verifier_sealed, sha256Hex(auth.state));
    expect(url.searchParams.get('code_challenge')).toBe(
      createHash('sha256').update(verifier).digest('base64url'),
    );
    expect(stored?.ttl).toBe(Math.floor(Date.parse(auth.expires_at) / 1000));
  });

  it('exchanges the code with the verifier and stores a connection with sealed tokens', async () => {
    const res = await connect(alice, { oauth_app_id: 'fake', scopes: ['read'] });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      object: 'oauth_connection',
      oauth_app_id: 'fake',
      user_id: 'alice',
      workspace_id: 'ws1',
      status: 'ACTIVE',
      source: 'authorization_code',
      scopes: ['read'],
      token_type: 'Bearer',
      access_token: '[hidden]',
      has_refresh_token: true,
    });
    expect(res.body.id).toMatch(/^conn_/);
    expect(Date.parse(res.body.token_expires_at) - Date.now()).toBeGreaterThan(3500_000);
    const item = (
      await db().send(
        new GetCommand({ TableName: tableName(), Key: keys.oauthConnection('ws1', 'alice', res.body.id) }),
      )
    ).Item;
    const lastAccess = env.provider.issued.at(-2) as string;
    const lastRefresh = env.provider.issued.at(-1) as string;
    expect(JSON.stringify(item)).not.toContain(lastAccess);
    expect(JSON.stringify(item)).not.toContain(lastRefresh);
    expect(await decrypt(item?.access_token_sealed, accessTokenAad(res.body.id))).toBe(lastAccess);
    expect(await decrypt(item?.refresh_token_sealed, refreshTokenAad(res.body.id))).toBe(lastRefresh);
    await expect(decrypt(item?.access_token_sealed, accessTokenAad('conn_other'))).rejects.toThrow();
    // Each token is bound to its role too: the two ciphertexts of a row cannot be swapped.
    await expect(decrypt(item?.refresh_token_sealed, accessTokenAad(res.body.id))).rejects.toThrow();
    await expect(decrypt(item?.access_token_sealed, refreshTokenAad(res.body.id))).rejects.toThrow();
    expect(item?.gsi1pk).toMatch(/^OAUTHEXP#/);
  });

  it('fails the exchange when the code_verifier does not match the challenge (the provider checks PKCE)', async () => {
    const a = await start(alice);
    const b = await start(alice);
    const backA = await env.provider.authorize(a.authorization_url);
    // Present A's code with B's state: the exchange sends B's verifier, which does not match A's challenge.
    const res = await invoke(callback, routes.oauthCallback, {
      token: alice,
      body: { state: b.state, code: backA.get('code') },
    });
    expect(res.status).toBe(400);
    expect(res.body.provider_error).toBe('invalid_grant');
  });

  it('answers the browser redirect with a page and completes nothing: no exchange, no connection, state kept', async () => {
    const before = await connectionCount('alice');
    const exchanges = env.provider.calls.authorizationCode;
    const auth = await start(alice);
    const back = await env.provider.authorize(auth.authorization_url);
    const res = await invoke(callbackRedirect, routes.oauthCallbackRedirect, {
      query: { state: back.get('state') as string, code: back.get('code') as string },
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    expect(res.body).toMatch(/Return to PronaFlow/);
    expect(res.body).not.toContain(back.get('code'));
    expect(env.provider.calls.authorizationCode).toBe(exchanges);
    expect(await connectionCount('alice')).toBe(before);
    expect(await rawState(auth.state)).toBeDefined();
    // The front end finishes with the user's session.
    const done = await invoke(callback, routes.oauthCallback, {
      token: alice,
      body: { state: back.get('state'), code: back.get('code') },
    });
    expect(done.status).toBe(201);
    expect(await connectionCount('alice')).toBe(before + 1);
  });

  it('redirects the browser to OAUTH_COMPLETE_URL with code, state and error when it is set', async () => {
    setEnv({ OAUTH_COMPLETE_URL: 'https://app.pronaflow.test/settings/connections/complete?from=oauth' });
    try {
      const auth = await start(alice);
      const back = await env.provider.authorize(auth.authorization_url);
      const res = await invoke(callbackRedirect, routes.oauthCallbackRedirect, {
        query: { state: back.get('state') as string, code: back.get('code') as string },
      });
      expect(res.status).toBe(302);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      const target = new URL(res.headers.location as string);
      expect(target.origin + target.pathname).toBe(
        'https://app.pronaflow.test/settings/connections/complete',
      );
      expect(Object.fromEntries(target.searchParams)).toEqual({
        from: 'oauth',
        code: back.get('code'),
        state: auth.state,
      });
      expect(await rawState(auth.state)).toBeDefined();
      const denied = await invoke(callbackRedirect, routes.oauthCallbackRedirect, {
        query: { state: auth.state, error: 'access_denied', error_description: 'no' },
      });
      expect(denied.status).toBe(302);
      const deniedTarget = new URL(denied.headers.location as string);
      expect(deniedTarget.searchParams.get('error')).toBe('access_denied');
      expect(deniedTarget.searchParams.get('state')).toBe(auth.state);
      expect(deniedTarget.searchParams.has('code')).toBe(false);
    } finally {
      setEnv({ OAUTH_COMPLETE_URL: undefined });
    }
  });

  it('answers 400 to a replayed state and stores nothing more', async () => {
    const auth = await start(alice);
    const back = await env.provider.authorize(auth.authorization_url);
    const body = { state: back.get('state'), code: back.get('code') };
    expect((await invoke(callback, routes.oauthCallback, { token: alice, body })).status).toBe(201);
    const count = await connectionCount('alice');
    const replay = await invoke(callback, routes.oauthCallback, { token: alice, body });
    expect(replay.status).toBe(400);
    expect(replay.body.type).toMatch(/oauth-invalid-state$/);
    expect(await connectionCount('alice')).toBe(count);
  });

  it('answers 400 to an unknown state without calling the provider', async () => {
    const calls = env.provider.calls.authorizationCode;
    const res = await invoke(callback, routes.oauthCallback, {
      token: alice,
      body: { state: 'x'.repeat(43), code: 'whatever' },
    });
    expect(res.status).toBe(400);
    expect(env.provider.calls.authorizationCode).toBe(calls);
  });

  it('answers 400 to an expired state even before DynamoDB removes it', async () => {
    const auth = await start(alice);
    const back = await env.provider.authorize(auth.authorization_url);
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.oauthState(sha256Hex(auth.state)),
        UpdateExpression: 'SET expires_at = :past',
        ExpressionAttributeValues: { ':past': new Date(Date.now() - 1000).toISOString() },
      }),
    );
    const count = await connectionCount('alice');
    const res = await invoke(callback, routes.oauthCallback, {
      token: alice,
      body: { state: auth.state, code: back.get('code') },
    });
    expect(res.status).toBe(400);
    expect(await connectionCount('alice')).toBe(count);
  });

  it("answers 400 to another user's state and leaves it usable by its owner", async () => {
    const auth = await start(alice);
    const back = await env.provider.authorize(auth.authorization_url);
    const body = { state: auth.state, code: back.get('code') };
    const stolen = await invoke(callback, routes.oauthCallback, { token: bob, body });
    expect(stolen.status).toBe(400);
    expect(await connectionCount('bob')).toBe(0);
    const otherWs = await invoke(callback, routes.oauthCallback, {
      token: aliceOtherWs,
      body,
      headers: { 'x-workspace-id': 'ws2' },
    });
    expect(otherWs.status).toBe(400);
    expect((await invoke(callback, routes.oauthCallback, { token: alice, body })).status).toBe(201);
  });

  it('answers 400 when a code is used twice (the provider refuses it)', async () => {
    // Without PKCE, nothing but the provider's single-use rule can refuse the second exchange.
    const a = await start(alice, { oauth_app_id: 'fake-nopkce' });
    expect(new URL(a.authorization_url).searchParams.has('code_challenge')).toBe(false);
    const back = await env.provider.authorize(a.authorization_url);
    const code = back.get('code');
    expect(
      (await invoke(callback, routes.oauthCallback, { token: alice, body: { state: a.state, code } })).status,
    ).toBe(201);
    const count = await connectionCount('alice');
    const b = await start(alice, { oauth_app_id: 'fake-nopkce' });
    const reuse = await invoke(callback, routes.oauthCallback, {
      token: alice,
      body: { state: b.state, code },
    });
    expect(reuse.status).toBe(400);
    expect(reuse.body).toMatchObject({ provider_error: 'invalid_grant' });
    expect(await connectionCount('alice')).toBe(count);
  });

  it('answers 400 naming the refused scopes when scopes exceed the app’s', async () => {
    const res = await invoke(createConnection, routes.createConnection, {
      token: alice,
      body: { oauth_app_id: 'fake', scopes: ['read', 'superuser'] },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ path: 'body.scopes', message: expect.stringContaining('superuser') }]);
  });

  it('answers 400 for an unknown app and for a redirect_uri outside OAUTH_REDIRECT_URI_BASE', async () => {
    const unknown = await invoke(createConnection, routes.createConnection, {
      token: alice,
      body: { oauth_app_id: 'nope' },
    });
    expect(unknown.status).toBe(400);
    for (const redirect of [
      'https://evil.example/v1/integration/oauth/callback',
      'http://app.pronaflow.test/cb',
      'https://app.pronaflow.test.evil.example/cb',
      'https://user@app.pronaflow.test/cb',
    ]) {
      const res = await invoke(createConnection, routes.createConnection, {
        token: alice,
        body: { oauth_app_id: 'fake', redirect_uri: redirect },
      });
      expect(res.status, redirect).toBe(400);
    }
  });

  it('uses a client redirect_uri under the base for both the authorization and the exchange', async () => {
    const res = await connect(alice, {
      oauth_app_id: 'fake',
      redirect_uri: `${REDIRECT_BASE}/settings/connected`,
    });
    expect(res.status).toBe(201);
  });

  it('shows the refusal on the browser redirect without consuming the state; the POST consumes it with a 400', async () => {
    const auth = await start(alice);
    const back = await env.provider.authorize(auth.authorization_url, { deny: true });
    expect(back.get('error')).toBe('access_denied');
    const page = await invoke(callbackRedirect, routes.oauthCallbackRedirect, {
      query: { state: back.get('state') as string, error: 'access_denied' },
    });
    expect(page.status).toBe(400);
    expect(page.body).toContain('access_denied');
    // Whoever learns a state cannot cancel the authorization through the public GET.
    expect(await rawState(auth.state)).toBeDefined();
    const bobTries = await invoke(callback, routes.oauthCallback, {
      token: bob,
      body: { state: auth.state, error: 'access_denied' },
    });
    expect(bobTries.status).toBe(400);
    expect(bobTries.body.type).toMatch(/oauth-invalid-state$/);
    expect(await rawState(auth.state)).toBeDefined();
    const res = await invoke(callback, routes.oauthCallback, {
      token: alice,
      body: { state: auth.state, error: 'access_denied' },
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ provider_error: 'access_denied' });
    expect(res.body.type).toMatch(/oauth-authorization-denied$/);
    expect(await rawState(auth.state)).toBeUndefined();
  });

  it('answers an HTML 400 page for a browser redirect without state or code, escaping what it shows', async () => {
    const none = await invoke(callbackRedirect, routes.oauthCallbackRedirect, { query: { code: 'x' } });
    expect(none.status).toBe(400);
    expect(none.headers['content-type']).toMatch(/text\/html/);
    const noCode = await invoke(callbackRedirect, routes.oauthCallbackRedirect, { query: { state: 'abc' } });
    expect(noCode.status).toBe(400);
    const bad = await invoke(callbackRedirect, routes.oauthCallbackRedirect, {
      query: { state: 'abc', error: '<script>alert(1)</script>' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body).not.toContain('<script>');
  });

  it('answers 503 when the app has no client credentials', async () => {
    const res = await invoke(createConnection, routes.createConnection, {
      token: alice,
      body: { oauth_app_id: 'fake-unconfigured' },
    });
    expect(res.status).toBe(503);
    expect(JSON.stringify(res.body)).not.toContain('secret');
  });
});

describe('connection injection: an attacker sends their authorization URL to a victim (RFC 9700 §4.7)', () => {
  it('never attaches the victim’s provider account to the attacker: GET stores nothing, the victim’s POST is a 400', async () => {
    const exchanges = env.provider.calls.authorizationCode;
    const [bobBefore, aliceBefore] = [await connectionCount('bob'), await connectionCount('alice')];
    // Bob (the attacker) starts an authorization and sends its URL to Alice.
    const attack = await start(bob);
    // Alice's browser consents at the provider and lands on the public callback.
    const back = await env.provider.authorize(attack.authorization_url);
    const landing = await invoke(callbackRedirect, routes.oauthCallbackRedirect, {
      query: { state: back.get('state') as string, code: back.get('code') as string },
    });
    expect(landing.status).toBe(200);
    // Alice's front end completes with her session: the state is Bob's, so nothing happens.
    const victim = await invoke(callback, routes.oauthCallback, {
      token: alice,
      body: { state: back.get('state'), code: back.get('code') },
    });
    expect(victim.status).toBe(400);
    expect(victim.body.type).toMatch(/oauth-invalid-state$/);
    expect(env.provider.calls.authorizationCode).toBe(exchanges);
    expect(await connectionCount('bob')).toBe(bobBefore);
    expect(await connectionCount('alice')).toBe(aliceBefore);
  });
});

describe('provider failures at the token endpoint', () => {
  async function callbackWith(injected: Parameters<typeof env.provider.failNextToken>[0]) {
    const auth = await start(alice);
    const back = await env.provider.authorize(auth.authorization_url);
    env.provider.failNextToken(injected);
    const count = await connectionCount('alice');
    const res = await invoke(callback, routes.oauthCallback, {
      token: alice,
      body: { state: auth.state, code: back.get('code') },
    });
    expect(await connectionCount('alice')).toBe(count);
    return res;
  }

  it('answers 502 with the provider error code on a 4xx', async () => {
    const res = await callbackWith({ status: 401, body: JSON.stringify({ error: 'invalid_client' }) });
    expect(res.status).toBe(502);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.body).toMatchObject({ provider_error: 'invalid_client', oauth_app_id: 'fake' });
  });

  it('answers 502 on a 5xx without an OAuth error', async () => {
    const res = await callbackWith({ status: 503, body: '<html>down</html>', contentType: 'text/html' });
    expect(res.status).toBe(502);
    expect(res.body.provider_error).toBe('http_503');
  });

  it('answers 502 to a 200 carrying an error, as GitHub does', async () => {
    const res = await callbackWith({
      status: 200,
      body: JSON.stringify({ error: 'incorrect_client_credentials' }),
    });
    expect(res.status).toBe(502);
    expect(res.body.provider_error).toBe('incorrect_client_credentials');
  });

  it("answers 400 to GitHub's bad_verification_code, a refused code like invalid_grant", async () => {
    const res = await callbackWith({
      status: 200,
      body: JSON.stringify({
        error: 'bad_verification_code',
        error_description: 'The code is incorrect or expired.',
      }),
    });
    expect(res.status).toBe(400);
    expect(res.body.type).toMatch(/oauth-invalid-grant$/);
    expect(res.body.provider_error).toBe('bad_verification_code');
  });

  it('answers 502 naming an oversized answer as such', async () => {
    const res = await callbackWith({
      status: 200,
      body: JSON.stringify({ access_token: 'a'.repeat(100 * 1024) }),
    });
    expect(res.status).toBe(502);
    expect(res.body.provider_error).toBe('response_too_large');
    expect(res.body.detail).toMatch(/more than 64 KiB/);
  });

  it('answers 502 when the provider does not answer within OAUTH_HTTP_TIMEOUT_SECONDS', async () => {
    setEnv({ OAUTH_HTTP_TIMEOUT_SECONDS: '1' });
    try {
      const res = await callbackWith({ status: 200, body: '{}', delayMs: 1500 });
      expect(res.status).toBe(502);
      expect(res.body.provider_error).toBe('timeout');
    } finally {
      setEnv({ OAUTH_HTTP_TIMEOUT_SECONDS: undefined });
    }
  });

  it('answers 502 to a malformed token response', async () => {
    for (const body of [
      JSON.stringify({ token_type: 'bearer' }),
      'not json',
      JSON.stringify({ access_token: 42 }),
    ]) {
      const res = await callbackWith({ status: 200, body });
      expect(res.status, body).toBe(502);
      expect(res.body.provider_error).toBe('invalid_response');
    }
  });
});

describe('reading connections', () => {
  let mine: string;
  beforeAll(async () => {
    mine = (await connect(alice)).body.id;
  });

  it("answers 404 for another user's connection id", async () => {
    const res = await invoke(getConnection, routes.getConnection, { token: bob, params: { id: mine } });
    expect(res.status).toBe(404);
    const own = await invoke(getConnection, routes.getConnection, { token: alice, params: { id: mine } });
    expect(own.status).toBe(200);
    expect(own.body.id).toBe(mine);
  });

  it("lists only the caller's connections, filtered by app and status, with pagination", async () => {
    const direct = await invoke(createConnection, routes.createConnection, {
      token: alice,
      body: { oauth_app_id: 'fake-norevoke', access_token: 'direct-token-abc', scopes: ['read'] },
    });
    expect(direct.status).toBe(201);
    const byApp = await invoke(listConnections, routes.listConnections, {
      token: alice,
      query: { oauth_app_id: 'fake-norevoke' },
    });
    expect(byApp.body.data.map((c: { id: string }) => c.id)).toEqual([direct.body.id]);
    const bobs = await invoke(listConnections, routes.listConnections, { token: bob });
    expect(bobs.body.data).toEqual([]);
    const expired = await invoke(listConnections, routes.listConnections, {
      token: alice,
      query: { status: 'EXPIRED' },
    });
    expect(expired.body.data).toEqual([]);
    const page1 = await invoke(listConnections, routes.listConnections, {
      token: alice,
      query: { limit: '1' },
    });
    expect(page1.body.data).toHaveLength(1);
    expect(page1.body.next_cursor).toEqual(expect.any(String));
    const page2 = await invoke(listConnections, routes.listConnections, {
      token: alice,
      query: { limit: '1', cursor: page1.body.next_cursor },
    });
    expect(page2.body.data[0].id).not.toBe(page1.body.data[0].id);
    const forged = await invoke(listConnections, routes.listConnections, {
      token: bob,
      query: { cursor: page1.body.next_cursor },
    });
    expect(forged.status).toBe(400);
  });

  it('marks a direct connection without refresh token EXPIRED once its token expired', async () => {
    const res = await invoke(createConnection, routes.createConnection, {
      token: bob,
      body: { oauth_app_id: 'fake', access_token: 'short-lived-token', expires_in: 1 },
    });
    expect(res.body.status).toBe('ACTIVE');
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.oauthConnection('ws1', 'bob', res.body.id),
        UpdateExpression: 'SET token_expires_at = :past',
        ExpressionAttributeValues: { ':past': new Date(Date.now() - 1000).toISOString() },
      }),
    );
    const got = await invoke(getConnection, routes.getConnection, {
      token: bob,
      params: { id: res.body.id },
    });
    expect(got.body.status).toBe('EXPIRED');
  });

  it('refuses direct-mode fields in authorization mode and vice versa', async () => {
    const a = await invoke(createConnection, routes.createConnection, {
      token: alice,
      body: { oauth_app_id: 'fake', refresh_token: 'r' },
    });
    expect(a.status).toBe(400);
    const b = await invoke(createConnection, routes.createConnection, {
      token: alice,
      body: { oauth_app_id: 'fake', access_token: 'x', redirect_uri: `${REDIRECT_BASE}/x` },
    });
    expect(b.status).toBe(400);
  });
});

describe('secrecy', () => {
  it('never puts a token, code, verifier or client secret in a response, a page or a log line', async () => {
    const logs = captureLogs();
    const bodies: string[] = [];
    try {
      const auth = await start(alice);
      bodies.push(JSON.stringify(auth));
      const back = await env.provider.authorize(auth.authorization_url);
      const landing = await invoke(callbackRedirect, routes.oauthCallbackRedirect, {
        query: { state: auth.state, code: back.get('code') as string },
      });
      bodies.push(landing.body);
      const res = await invoke(callback, routes.oauthCallback, {
        token: alice,
        body: { state: auth.state, code: back.get('code') },
      });
      bodies.push(JSON.stringify(res.body));
      const got = await invoke(getConnection, routes.getConnection, {
        token: alice,
        params: { id: res.body.id },
      });
      bodies.push(JSON.stringify(got.body));
      const list = await invoke(listConnections, routes.listConnections, { token: alice });
      bodies.push(JSON.stringify(list.body));

      // A provider that quotes what it was sent in its errors: the code...
      const a2 = await start(alice);
      const b2 = await env.provider.authorize(a2.authorization_url);
      env.provider.failNextToken({
        status: 400,
        body: JSON.stringify({
          error: 'invalid_request',
          error_description: `code ${b2.get('code')} is odd`,
        }),
      });
      const failed = await invoke(callback, routes.oauthCallback, {
        token: alice,
        body: { state: a2.state, code: b2.get('code') },
      });
      expect(failed.status).toBe(502);
      bodies.push(JSON.stringify(failed.body));

      // ...the refresh token, on a failed refresh (kept in last_error)...
      const conn = (await loadConnection('ws1', 'alice', res.body.id))!;
      const presented = (await openRefreshToken(conn)) as string;
      env.provider.failNextToken({
        status: 400,
        body: JSON.stringify({ error: 'invalid_request', error_description: `refresh ${presented} is odd` }),
      });
      const refreshFailed = await invoke(refreshEndpoint, routes.refreshConnection, {
        token: alice,
        params: { id: conn.id },
      });
      expect(refreshFailed.status).toBe(502);
      bodies.push(JSON.stringify(refreshFailed.body));
      const afterFailure = await invoke(getConnection, routes.getConnection, {
        token: alice,
        params: { id: conn.id },
      });
      expect(afterFailure.body.last_error).toMatchObject({
        code: 'invalid_request',
        description: 'refresh [redacted] is odd',
      });
      bodies.push(JSON.stringify(afterFailure.body));

      // ...and the token being revoked.
      env.provider.failNextRevoke({
        status: 400,
        body: JSON.stringify({ error: 'invalid_token', error_description: `token ${presented} unknown` }),
      });
      const revoked = await invoke(deleteConnection, routes.deleteConnection, {
        token: alice,
        params: { id: conn.id },
      });
      expect(revoked.status).toBe(204);

      const direct = await invoke(createConnection, routes.createConnection, {
        token: alice,
        body: {
          oauth_app_id: 'fake',
          access_token: 'direct-secret-token-xyz',
          refresh_token: 'direct-refresh-xyz',
        },
      });
      bodies.push(JSON.stringify(direct.body));
      const stored = await rawState(auth.state);
      expect(stored).toBeUndefined();
      const secrets = [
        ...env.provider.issued,
        back.get('code') as string,
        b2.get('code') as string,
        env.provider.clientSecret,
        'direct-secret-token-xyz',
        'direct-refresh-xyz',
      ];
      const text = logs.lines();
      expect(text).toContain('oauth connection created');
      expect(text).toContain('oauth refresh failed');
      expect(text).toMatch(/"revocation":"failed"/);
      for (const s of secrets) {
        expect(text).not.toContain(s);
        for (const b of bodies) expect(b).not.toContain(s);
      }
    } finally {
      logs.stop();
    }
  });
});
