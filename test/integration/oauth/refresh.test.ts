import { readFileSync } from 'node:fs';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handler as createConnection } from '#functions/oauth/create-connection.ts';
import { handler as refreshEndpoint } from '#functions/oauth/refresh-connection.ts';
import { routes } from '#functions/routes.ts';
import { handler as refreshWorker } from '#functions/workers/refresh-oauth-connections.ts';
import { db, tableName } from '#shared/db/client.ts';
import { openAccessToken, openRefreshToken, sealTokens } from '#shared/oauth/connections.ts';
import {
  acquireLease,
  type ConnectionItem,
  getConnection,
  reload,
  writeRefreshOutcome,
} from '#shared/oauth/connections-repo.ts';
import {
  accessTokenFor,
  MAX_REFRESH_ATTEMPTS,
  MAX_WAIT_FOR_HOLDER_MS,
  REFRESH_COOLDOWN_SECONDS,
  refreshConnection,
  refreshDueConnections,
} from '#shared/oauth/refresh.ts';
import { setEnv } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { connectThroughFlow, useOAuthEnv } from '#test/helpers/oauth-setup.ts';

const env = useOAuthEnv();
let alice: string;
let bob: string;

beforeAll(async () => {
  // Many calls per user in this file: not what the rate limit is about.
  setEnv({ RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '100000' });
  alice = await env.id.jwt('alice', 'ws1');
  bob = await env.id.jwt('bob', 'ws1');
});
beforeEach(() => {
  env.provider.expiresIn = 3600;
  env.provider.refreshDelayMs = 0;
});

/** A connection made through the real flow, so the provider knows its refresh token. */
async function connect(token = alice) {
  return connectThroughFlow(env, token, token === alice ? 'alice' : 'bob');
}

const later = (ms: number) => () => new Date(Date.now() + ms);
const MIN = 60_000;
const DAY = 24 * 60 * MIN;

/** Sets (and removes) attributes of a stored connection, as another process or time would have. */
async function patch(conn: ConnectionItem, set: Record<string, unknown>, remove: string[] = []) {
  const names = Object.fromEntries([...Object.keys(set), ...remove].map((k, i) => [`#a${i}`, k]));
  const byName = Object.fromEntries(Object.entries(names).map(([alias, k]) => [k, alias]));
  const sets = Object.keys(set).map((k, i) => `${byName[k]} = :v${i}`);
  const removes = remove.map((k) => byName[k]);
  await db().send(
    new UpdateCommand({
      TableName: tableName(),
      Key: { pk: conn.pk, sk: conn.sk },
      UpdateExpression: [
        sets.length ? `SET ${sets.join(', ')}` : '',
        removes.length ? `REMOVE ${removes.join(', ')}` : '',
      ]
        .filter(Boolean)
        .join(' '),
      ExpressionAttributeNames: names,
      ...(sets.length
        ? { ExpressionAttributeValues: Object.fromEntries(Object.values(set).map((v, i) => [`:v${i}`, v])) }
        : {}),
    }),
  );
}

async function expectExpiredByAge(conn: ConnectionItem) {
  const stored = (await reload(conn))!;
  expect(stored.status).toBe('EXPIRED');
  expect(stored.last_error).toMatchObject({ code: 'refresh_token_expired' });
  expect(stored.gsi1pk).toBeUndefined();
  expect(stored.next_refresh_at).toBeUndefined();
  expect(stored.lease_owner).toBeUndefined();
}

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
    expect(await openAccessToken(stored)).toBe(env.provider.issued.at(-2));
    expect(await openRefreshToken(stored)).toBe(env.provider.issued.at(-1));
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

  it('answers 409 to a manual refresh of a too-old refresh token, stores EXPIRED and unschedules it', async () => {
    const conn = await connect();
    await patch(conn, { refresh_token_issued_at: new Date(Date.now() - 31 * DAY).toISOString() });
    const calls = env.provider.calls.refresh;
    const res = await invoke(refreshEndpoint, routes.refreshConnection, {
      token: alice,
      params: { id: conn.id },
    });
    expect(res.status).toBe(409);
    expect(res.body.type).toMatch(/oauth-connection-expired$/);
    expect(env.provider.calls.refresh).toBe(calls);
    await expectExpiredByAge(conn);
  });
});

describe('accessTokenFor', () => {
  it('returns the stored token without a provider call while it is not due', async () => {
    const conn = await connect();
    const calls = env.provider.calls.refresh;
    const token = await accessTokenFor(conn);
    expect(token.accessToken).toBe(await openAccessToken(conn));
    expect(token.tokenType).toBe('Bearer');
    expect(env.provider.calls.refresh).toBe(calls);
  });

  it('refreshes first when the token expires within OAUTH_REFRESH_MARGIN_SECONDS', async () => {
    const conn = await connect();
    const old = await openAccessToken(conn);
    const token = await accessTokenFor(conn, { now: later(56 * MIN) });
    expect(token.accessToken).not.toBe(old);
    expect(token.accessToken).toBe(env.provider.issued.at(-2));
  });

  it('returns the still valid token when the refresh fails transiently', async () => {
    const conn = await connect();
    env.provider.failNextToken({ status: 502, body: '' });
    const token = await accessTokenFor(conn, { now: later(56 * MIN) });
    expect(token.accessToken).toBe(await openAccessToken(conn));
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

describe('refresh on use of a connection in ERROR', () => {
  /** A connection whose refresh failed once at `at` (ERROR, cooldown REFRESH_COOLDOWN_SECONDS). */
  async function failedOnceAt(at: () => Date) {
    const conn = await connect();
    env.provider.failNextToken({ status: 503, body: '' });
    await accessTokenFor(conn, { now: at }).catch(() => undefined);
    const stored = (await reload(conn))!;
    expect(stored).toMatchObject({ status: 'ERROR', refresh_attempts: 1 });
    return stored;
  }

  it('does not call the provider during the cooldown and returns the still valid token', async () => {
    const conn = await failedOnceAt(later(56 * MIN));
    const calls = env.provider.calls.refresh;
    const token = await accessTokenFor(conn, { now: later(56 * MIN + 10_000) });
    expect(token.accessToken).toBe(await openAccessToken(conn));
    expect(env.provider.calls.refresh).toBe(calls);
  });

  it('answers 409 "try later" with Retry-After when the token expired during the cooldown', async () => {
    const conn = await failedOnceAt(later(59.5 * MIN));
    const calls = env.provider.calls.refresh;
    const err = await accessTokenFor(conn, { now: later(60.25 * MIN) }).catch((e) => e);
    expect(err).toMatchObject({ status: 409, code: 'oauth-refresh-paused' });
    expect(err.extra.retry_at).toBe(conn.next_refresh_at);
    expect(Number(err.headers['Retry-After'])).toBeGreaterThan(0);
    expect(env.provider.calls.refresh).toBe(calls);
  });

  it('refreshes again once the cooldown has passed', async () => {
    const conn = await failedOnceAt(later(56 * MIN));
    const calls = env.provider.calls.refresh;
    const token = await accessTokenFor(conn, {
      now: later(56 * MIN + REFRESH_COOLDOWN_SECONDS * 1000 + 5000),
    });
    expect(env.provider.calls.refresh).toBe(calls + 1);
    expect(token.accessToken).toBe(env.provider.issued.at(-2));
    expect((await reload(conn))!).toMatchObject({ status: 'ACTIVE', refresh_attempts: 0 });
  });

  it('stops after MAX_REFRESH_ATTEMPTS: the valid token while it lasts, then 409 "reconnect"', async () => {
    const conn = await connect();
    await patch(
      conn,
      {
        status: 'ERROR',
        refresh_attempts: MAX_REFRESH_ATTEMPTS,
        last_error: { code: 'server_error', at: new Date().toISOString() },
      },
      ['next_refresh_at', 'gsi1pk', 'gsi1sk'],
    );
    const stored = (await reload(conn))!;
    const calls = env.provider.calls.refresh;
    const token = await accessTokenFor(stored, { now: later(58 * MIN) });
    expect(token.accessToken).toBe(await openAccessToken(conn));
    const err = await accessTokenFor(stored, { now: later(61 * MIN) }).catch((e) => e);
    expect(err).toMatchObject({ status: 409, code: 'oauth-refresh-paused' });
    expect(err.message).toMatch(/refresh it manually or connect the app again/);
    expect(env.provider.calls.refresh).toBe(calls);
    // A manual refresh is still allowed, and succeeds.
    const manual = await invoke(refreshEndpoint, routes.refreshConnection, {
      token: alice,
      params: { id: conn.id },
    });
    expect(manual.body).toMatchObject({ status: 'ACTIVE', refresh_attempts: 0 });
  });
});

describe('the refresh lease', () => {
  it('writes its result when its lease lapsed and another process took it without writing (fallback write)', async () => {
    const conn = await connect();
    const t0 = Date.now();
    const gate = env.provider.holdNextToken();
    const first = refreshConnection(conn, { force: true, now: () => new Date(t0) });
    await gate.arrived;
    // The first holder outlives its lease; another process takes the lapsed lease.
    expect(await acquireLease(conn, 'another-process', t0 + 60 * MIN, MIN)).toBeDefined();
    gate.release();
    const outcome = await first;
    expect(outcome.kind).toBe('refreshed');
    const stored = (await reload(conn))!;
    // The rotated refresh token the provider gave the first holder is kept, not lost.
    expect(await openRefreshToken(stored)).toBe(env.provider.issued.at(-1));
    expect(stored.lease_owner).toBeUndefined();
    // ...and it works: the next refresh succeeds at the provider.
    const again = await invoke(refreshEndpoint, routes.refreshConnection, {
      token: alice,
      params: { id: conn.id },
    });
    expect(again.body.status).toBe('ACTIVE');
  });

  it('does not overwrite what another process wrote after its lease lapsed (409)', async () => {
    const conn = await connect();
    const t0 = Date.now();
    const gate = env.provider.holdNextToken();
    const first = refreshConnection(conn, { force: true, now: () => new Date(t0) });
    await gate.arrived;
    await acquireLease(conn, 'another-process', t0 + 60 * MIN, MIN);
    await writeRefreshOutcome(
      conn,
      'another-process',
      conn.refresh_token_sealed,
      { ...(await sealTokens(conn.id, 'at-other', 'rt-other')), status: 'ACTIVE' },
      [],
    );
    gate.release();
    await expect(first).rejects.toMatchObject({ status: 409 });
    const stored = (await reload(conn))!;
    expect(await openAccessToken(stored)).toBe('at-other');
    expect(await openRefreshToken(stored)).toBe('rt-other');
  });

  it('recovers from a crashed holder once its lease is in the past (on use and manually)', async () => {
    const conn = await connect();
    await patch(conn, { lease_owner: 'crashed', lease_until: Date.now() - 1000 });
    const calls = env.provider.calls.refresh;
    const token = await accessTokenFor(conn, { now: later(56 * MIN) });
    expect(env.provider.calls.refresh).toBe(calls + 1);
    expect(token.accessToken).toBe(env.provider.issued.at(-2));
    expect((await reload(conn))!.lease_owner).toBeUndefined();

    await patch(conn, { lease_owner: 'crashed', lease_until: Date.now() - 1000 });
    const manual = await invoke(refreshEndpoint, routes.refreshConnection, {
      token: alice,
      params: { id: conn.id },
    });
    expect(manual.status).toBe(200);
    expect(env.provider.calls.refresh).toBe(calls + 2);
  });

  it('waits a bounded time for a live holder, then answers 409 without calling the provider', async () => {
    const conn = await connect();
    await patch(conn, { lease_owner: 'live', lease_until: Date.now() + 10 * MIN });
    const calls = env.provider.calls.refresh;
    await expect(refreshConnection(conn, { force: true, wait: true, maxWaitMs: 300 })).rejects.toMatchObject({
      status: 409,
      message: expect.stringMatching(/being refreshed/),
    });
    expect(env.provider.calls.refresh).toBe(calls);
  });

  it('bounds the wait for a holder well under the API Lambda timeout, leaving room for a provider call', () => {
    const lambdaTimeoutMs = (routes.refreshConnection.timeoutSeconds ?? 20) * 1000;
    const providerTimeoutMs = 10_000; // OAUTH_HTTP_TIMEOUT_SECONDS default
    expect(MAX_WAIT_FOR_HOLDER_MS + providerTimeoutMs).toBeLessThan(lambdaTimeoutMs - 2000);
  });
});

describe('failures that are not the provider’s', () => {
  it('records missing credentials, an app gone from the catalog and undecryptable tokens with a cooldown', async () => {
    env.provider.expiresIn = 120; // due at once
    const unconfigured = await invoke(createConnection, routes.createConnection, {
      token: bob,
      body: { oauth_app_id: 'fake-unconfigured', access_token: 'a1', refresh_token: 'r1', expires_in: 120 },
    });
    const gone = await connect(bob);
    await patch(gone, { app_id: 'removed-app' });
    const broken = await connect(bob);
    const [, kid, ...rest] = broken.refresh_token_sealed!.split('.');
    expect(kid).toBeDefined();
    await patch(broken, { refresh_token_sealed: ['v1', 'k-removed', ...rest].join('.') });
    const ids = [unconfigured.body.id as string, gone.id, broken.id];

    const stats = await refreshDueConnections();
    expect(stats.failed).toBeGreaterThanOrEqual(3);
    for (const id of ids) {
      const stored = (await getConnection('ws1', 'bob', id))!;
      expect(stored, id).toMatchObject({
        status: 'ERROR',
        refresh_attempts: 1,
        last_error: { code: 'configuration_error' },
      });
      expect(Date.parse(stored.next_refresh_at!) - Date.now()).toBeGreaterThan(50_000);
      expect(stored.gsi1sk?.startsWith(stored.next_refresh_at!)).toBe(true);
      expect(stored.lease_owner).toBeUndefined();
    }
    // The next run leaves them alone during their cooldown.
    await refreshDueConnections();
    for (const id of ids) {
      expect((await getConnection('ws1', 'bob', id))!.refresh_attempts, id).toBe(1);
    }
    // Manual refresh of the undecryptable one: 503, no internals.
    const manual = await invoke(refreshEndpoint, routes.refreshConnection, {
      token: bob,
      params: { id: broken.id },
    });
    expect(manual.status).toBe(503);
  });

  it('records nothing on the connections when the apps file goes bad while running (an operator error)', async () => {
    env.provider.expiresIn = 120; // due at once
    const conn = await connect(bob);
    const good = readFileSync(env.appsFile, 'utf8');
    env.writeApps([{ id: 1 }]);
    try {
      await expect(refreshDueConnections()).rejects.toThrow(/OAUTH_APPS_FILE/);
      const stored = (await getConnection('ws1', 'bob', conn.id))!;
      expect(stored).toMatchObject({ status: 'ACTIVE', refresh_attempts: 0 });
      expect(stored.last_error).toBeUndefined();
    } finally {
      env.writeApps(JSON.parse(good));
    }
  });

  it('keeps the provider’s 502 when recording the failure conflicts with another write', async () => {
    const conn = await connect();
    env.provider.failNextToken({ status: 500, body: JSON.stringify({ error: 'server_error' }) });
    const gate = env.provider.holdNextToken();
    const refresh = invoke(refreshEndpoint, routes.refreshConnection, {
      token: alice,
      params: { id: conn.id },
    });
    await gate.arrived;
    // Meanwhile another process stored newer tokens and released its lease.
    const newer = await sealTokens(conn.id, 'at-newer', 'rt-newer');
    await patch(conn, { ...newer }, ['lease_owner', 'lease_until']);
    gate.release();
    const res = await refresh;
    expect(res.status).toBe(502);
    expect(res.body.provider_error).toBe('server_error');
    const stored = (await reload(conn))!;
    expect(stored.status).toBe('ACTIVE');
    expect(await openRefreshToken(stored)).toBe('rt-newer');
  });
});

describe('token lifetimes', () => {
  it('uses OAUTH_TOKEN_EXPIRY_MINUTES when the provider gives no expires_in, at connect and at refresh', async () => {
    setEnv({ OAUTH_TOKEN_EXPIRY_MINUTES: '15' });
    env.provider.expiresIn = undefined;
    try {
      const conn = await connect();
      expect(Date.parse(conn.token_expires_at) - Date.parse(conn.created_at)).toBe(15 * MIN);
      const res = await invoke(refreshEndpoint, routes.refreshConnection, {
        token: alice,
        params: { id: conn.id },
      });
      expect(res.status).toBe(200);
      expect(Date.parse(res.body.token_expires_at) - Date.parse(res.body.last_refreshed_at)).toBe(15 * MIN);
    } finally {
      setEnv({ OAUTH_TOKEN_EXPIRY_MINUTES: undefined });
    }
  });
});

describe('scheduled refresh of a too-old refresh token', () => {
  it('stores EXPIRED and removes the gsi entry without calling the provider', async () => {
    env.provider.expiresIn = 120;
    const conn = await connect(bob);
    await patch(conn, { refresh_token_issued_at: new Date(Date.now() - 31 * DAY).toISOString() });
    const calls = env.provider.calls.refresh;
    const stats = await refreshDueConnections();
    expect(stats.failed).toBeGreaterThanOrEqual(1);
    expect(env.provider.calls.refresh - calls).toBe(stats.refreshed);
    await expectExpiredByAge(conn);
  });
});
