import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConnectionRejected, ProviderCallError, RescheduleRun } from '#shared/bindings/adapter.ts';
import { githubAdapter } from '#shared/bindings/adapters/github.ts';
import {
  createProviderHttp,
  DeadlineReached,
  emptyProviderStats,
  MAX_RATE_LIMIT_RETRIES,
  type ProviderHttpOptions,
} from '#shared/bindings/provider-http.ts';
import type { PinnedRequester } from '#shared/net/pinned-http.ts';
import { findApp, type OAuthApp } from '#shared/oauth/catalog.ts';
import { openAccessToken } from '#shared/oauth/connections.ts';
import { type ConnectionItem, reload } from '#shared/oauth/connections-repo.ts';
import { type FakeGitHub, startFakeGitHub } from '#test/helpers/fake-github.ts';
import { captureLogs, connectThroughFlow, useOAuthEnv } from '#test/helpers/oauth-setup.ts';

const env = useOAuthEnv();
let gh: FakeGitHub;
let app: OAuthApp;
/** The fake time of the client and of the fake GitHub (rate-limit resets, updated_at). */
let clock = Date.now();
let alice: string;

beforeAll(async () => {
  gh = await startFakeGitHub({ provider: env.provider, now: () => clock });
  app = { ...(findApp('fake') as OAuthApp), api_base_url: gh.url, sync_adapter: 'github' };
  alice = await env.id.jwt('alice', 'ws1');
});
afterAll(async () => {
  await gh?.stop();
});
beforeEach(() => {
  clock = Date.now();
  gh.calls.length = 0;
});

const connect = () => connectThroughFlow(env, alice, 'alice');
const ISSUES = '/repos/acme/app/issues';

/** A client over the fake GitHub whose sleeps advance the fake clock (nothing really waits). */
function client(connection: ConnectionItem, over: Partial<ProviderHttpOptions> = {}) {
  const stats = emptyProviderStats();
  const etags = new Map<string, string>();
  const slept: number[] = [];
  const http = createProviderHttp({
    app,
    connection,
    adapter: githubAdapter,
    deadline: clock + 10 * 60_000,
    etags,
    stats,
    now: () => clock,
    sleep: async (ms) => {
      slept.push(ms);
      clock += ms;
    },
    ...over,
  });
  return { http, stats, etags, slept };
}

/** A stub sender that records what it was asked to send and answers 200 `{}`. */
function recordingSender() {
  const sent: Parameters<PinnedRequester>[0][] = [];
  const send: PinnedRequester = async (req) => {
    sent.push(req);
    return { status: 200, headers: {}, body: '{}', bodyTruncated: false, durationMs: 1 };
  };
  return { sent, send };
}

describe('createProviderHttp', () => {
  beforeAll(() => {
    gh.seed({ owner: 'acme', repo: 'app', issues: 5 });
  });

  it('calls a path below the base URL with the bearer token, Accept, User-Agent and query', async () => {
    const conn = await connect();
    const { http, stats } = client(conn);

    const res = await http.request({ path: ISSUES, query: { state: 'all', per_page: 2, since: undefined } });

    expect(res.status).toBe(200);
    expect(res.json).toHaveLength(2);
    expect(stats.provider_calls).toBe(1);
    const [call] = gh.calls;
    expect(call).toMatchObject({ method: 'GET', path: ISSUES, query: { state: 'all', per_page: '2' } });
    expect(call?.headers).toMatchObject({
      authorization: `Bearer ${await openAccessToken(conn)}`,
      accept: 'application/json',
      'user-agent': 'PronaFlow-Integrations',
    });
  });

  it('keeps the paging and rate-limit headers of an answer with more than 30 headers', async () => {
    const { http } = client(await connect());

    const res = await http.request({ path: ISSUES, query: { per_page: 2 } });

    expect(Object.keys(res.headers).length).toBeGreaterThan(30);
    expect(res.headers.link).toContain('rel="next"');
    expect(res.headers.etag).toMatch(/^W\/"/);
    expect(res.headers['x-ratelimit-remaining']).toMatch(/^\d+$/);
    expect(res.headers['x-ratelimit-reset']).toMatch(/^\d+$/);
  });

  it('follows an absolute URL on the base origin and refuses any other origin without sending', async () => {
    const { http, stats } = client(await connect());
    const first = await http.request({ path: ISSUES, query: { per_page: 2 } });
    const next = /<([^>]+)>; rel="next"/.exec(first.headers.link ?? '')?.[1] as string;

    const second = await http.request({ path: next });
    expect(second.status).toBe(200);
    expect(gh.calls.at(-1)?.path).toMatch(/^\/repositories\/\d+\/issues$/);

    const calls = stats.provider_calls;
    for (const path of [
      'https://api.github.com/repos/acme/app/issues',
      next.replace('127.0.0.1', 'localhost'),
      `${next.replace(/:\d+\//, ':1/')}`,
    ]) {
      await expect(http.request({ path })).rejects.toBeInstanceOf(ProviderCallError);
    }
    expect(stats.provider_calls).toBe(calls);
  });

  it("keeps the base URL's path prefix and sends JSON or form bodies", async () => {
    const { sent, send } = recordingSender();
    const conn = await connect();
    const { http } = client(conn, { app: { ...app, api_base_url: `${gh.url}/api/v3/` }, send });

    await http.request({ method: 'POST', path: '/repos/a/b/issues', body: { title: 'T' } });
    await http.request({
      method: 'POST',
      path: 'chat.postMessage',
      body: { channel: 'C1', blocks: [1] },
      form: true,
    });
    await http.request({
      path: '/x?y=1',
      query: { z: 2 },
      headers: { Accept: 'application/vnd.github+json' },
    });
    // Without a prefix, `/\\host` parses as `//host`: another origin, refused.
    const plain = client(conn, { send }).http;
    await expect(plain.request({ path: '/\\evil.example/x' })).rejects.toBeInstanceOf(ProviderCallError);

    expect(sent.map((r) => r.url.pathname)).toEqual([
      '/api/v3/repos/a/b/issues',
      '/api/v3/chat.postMessage',
      '/api/v3/x',
    ]);
    expect(sent[0]).toMatchObject({ method: 'POST', body: '{"title":"T"}', maxBodyBytes: 8 * 1024 * 1024 });
    expect(sent[0]?.headers['content-type']).toBe('application/json');
    expect(sent[1]?.body).toBe('channel=C1&blocks=%5B1%5D');
    expect(sent[1]?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(sent[2]?.headers.accept).toBe('application/vnd.github+json');
    expect(sent[2]?.url.search).toBe('?y=1&z=2');
    expect(sent).toHaveLength(3);
    expect(sent[2]?.keepHeaders).toEqual(
      expect.arrayContaining(['link', 'etag', 'retry-after', 'x-ratelimit-*']),
    );
    expect(sent.every((r) => r.timeoutMs <= 15_000)).toBe(true);
  });

  it('bounds each call by 15 s and never past the deadline; none starts too close to it', async () => {
    const { sent, send } = recordingSender();
    const conn = await connect();

    await client(conn, { send }).http.request({ path: '/a' });
    await client(conn, { send, deadline: clock + 4_000 }).http.request({ path: '/b' });
    expect(sent.map((r) => r.timeoutMs)).toEqual([15_000, expect.any(Number)]);
    expect(sent[1]?.timeoutMs).toBeLessThanOrEqual(4_000);

    const late = client(conn, { send, deadline: clock + 200 });
    const err = await late.http.request({ path: '/c' }).catch((e) => e);
    expect(err).toBeInstanceOf(DeadlineReached);
    expect(err).toBeInstanceOf(RescheduleRun);
    expect(late.stats.provider_calls).toBe(0);
  });

  it('refuses a base URL the URL guard refuses (a private or metadata address), sending nothing', async () => {
    const conn = await connect();
    for (const base of ['http://169.254.169.254', 'http://10.1.2.3:8080', 'http://[fd00:ec2::254]']) {
      const { http, stats } = client(conn, { app: { ...app, api_base_url: base } });
      const err = await http.request({ path: ISSUES }).catch((e) => e);
      expect(err).toBeInstanceOf(ProviderCallError);
      expect(err.message).toMatch(/refused/);
      expect(stats.provider_calls).toBe(0);
    }
  });

  it('sends If-None-Match for an etagKey and returns a 304 that costs no quota', async () => {
    const conn = await connect();
    const token = await openAccessToken(conn);
    const { http, stats, etags } = client(conn);

    const first = await http.request({ path: ISSUES, query: { per_page: 100 }, etagKey: 'k' });
    expect(first.status).toBe(200);
    expect(etags.get('k')).toBe(first.headers.etag);
    const used = gh.quota(token).used;

    const second = await http.request({ path: ISSUES, query: { per_page: 100 }, etagKey: 'k' });

    expect(second.status).toBe(304);
    expect(second.json).toBeUndefined();
    expect(gh.calls.at(-1)?.headers['if-none-match']).toBe(first.headers.etag);
    expect(gh.quota(token).used).toBe(used);
    expect(stats).toMatchObject({ provider_calls: 2, not_modified: 1 });

    // A change makes a new ETag, stored for the next run.
    gh.addIssue('acme', 'app', { title: 'new' });
    const third = await http.request({ path: ISSUES, query: { per_page: 100 }, etagKey: 'k' });
    expect(third.status).toBe(200);
    expect(etags.get('k')).toBe(third.headers.etag);
    expect(third.headers.etag).not.toBe(first.headers.etag);
  });
  it('keeps no ETag of one page of several (its 304 would hide the later pages)', async () => {
    const { http, etags } = client(await connect());
    etags.set('k', 'W/"stale"');

    const page = await http.request({ path: ISSUES, query: { per_page: 2 }, etagKey: 'k' });

    expect(page.status).toBe(200);
    expect(page.headers.link).toContain('rel="next"');
    expect(page.headers.etag).toBeDefined();
    expect(etags.has('k')).toBe(false);
  });
});

describe('rate limits', () => {
  beforeAll(() => {
    gh.seed({ owner: 'acme', repo: 'app', issues: 3 });
  });

  it('waits out a primary limit until x-ratelimit-reset + 1 s when it fits, then goes on', async () => {
    const conn = await connect();
    const token = await openAccessToken(conn);
    const { http, stats, slept } = client(conn);
    const reset = Math.floor(clock / 1000) + 5;
    gh.setQuota(token, { remaining: 0, reset });
    const start = clock;

    const res = await http.request({ path: ISSUES });

    expect(res.status).toBe(200);
    expect(gh.calls.map((c) => c.status)).toEqual([403, 200]);
    expect(slept).toEqual([reset * 1000 + 1000 - start]);
    expect(slept[0]).toBeGreaterThan(5_000);
    expect(stats).toMatchObject({ provider_calls: 2, rate_limit_waits: 1, rate_limit_wait_ms: slept[0] });
  });

  it('throws RescheduleRun at the reset when the wait is longer than inline waits may be', async () => {
    const conn = await connect();
    const token = await openAccessToken(conn);
    const { http, stats, slept } = client(conn);
    const reset = Math.floor(clock / 1000) + 1800;
    gh.setQuota(token, { remaining: 0, reset });

    const err = await http.request({ path: ISSUES }).catch((e) => e);

    expect(err).toBeInstanceOf(RescheduleRun);
    expect(err).toMatchObject({ kind: 'primary', resumeAt: reset * 1000 + 1000 });
    expect(slept).toEqual([]);
    expect(stats).toMatchObject({ provider_calls: 1, rate_limit_waits: 1 });
    gh.setQuota(token, { remaining: 5000 });
  });

  it('throws RescheduleRun when a short wait would end past the deadline', async () => {
    const conn = await connect();
    const token = await openAccessToken(conn);
    const { http, slept } = client(conn, { deadline: clock + 4_000 });
    gh.setQuota(token, { remaining: 0, reset: Math.floor(clock / 1000) + 5 });

    const err = await http.request({ path: ISSUES }).catch((e) => e);

    expect(err).toBeInstanceOf(RescheduleRun);
    expect(err.kind).toBe('primary');
    expect(slept).toEqual([]);
    gh.setQuota(token, { remaining: 5000 });
  });

  it('backs off a secondary limit without retry-after by 60 s, doubling per answer', async () => {
    const conn = await connect();
    const { http, stats, slept } = client(conn, { maxInlineWaitMs: 15 * 60_000 });
    gh.inject({ kind: 'secondary', times: 3 });

    const res = await http.request({ path: ISSUES });

    expect(res.status).toBe(200);
    expect(slept).toEqual([60_000, 120_000, 240_000]);
    expect(stats).toMatchObject({ provider_calls: 4, rate_limit_waits: 3, rate_limit_wait_ms: 420_000 });
  });

  it('reschedules a secondary limit longer than the inline wait (20 s by default)', async () => {
    const conn = await connect();
    const { http, slept } = client(conn);
    gh.inject({ kind: 'secondary' });

    const err = await http.request({ path: ISSUES }).catch((e) => e);

    expect(err).toBeInstanceOf(RescheduleRun);
    expect(err).toMatchObject({ kind: 'secondary', resumeAt: clock + 60_000 });
    expect(slept).toEqual([]);
  });

  it('waits retry-after seconds (a 429, or a secondary limit that names it)', async () => {
    const conn = await connect();
    const { http, slept, stats } = client(conn);
    gh.inject({ kind: 'too_many', retryAfter: 2 });
    gh.inject({ kind: 'secondary', retryAfter: 3 });

    const res = await http.request({ path: ISSUES });

    expect(res.status).toBe(200);
    expect(slept).toEqual([2_000, 3_000]);
    expect(gh.calls.map((c) => c.status)).toEqual([429, 403, 200]);
    expect(stats.rate_limit_waits).toBe(2);
  });

  it(`reschedules after ${MAX_RATE_LIMIT_RETRIES} rate-limited answers in a row`, async () => {
    const conn = await connect();
    const { http, slept } = client(conn);
    gh.inject({ kind: 'too_many', retryAfter: 1, times: MAX_RATE_LIMIT_RETRIES + 1 });

    const err = await http.request({ path: ISSUES }).catch((e) => e);

    expect(err).toBeInstanceOf(RescheduleRun);
    expect(err.kind).toBe('retry_after');
    expect(slept).toHaveLength(MAX_RATE_LIMIT_RETRIES);
    expect(gh.calls.map((c) => c.status)).toEqual(Array(MAX_RATE_LIMIT_RETRIES + 1).fill(429));
  });

  it('returns a 403 that is no rate limit (no permission) as it is', async () => {
    const conn = await connect();
    const { http, slept, stats } = client(conn);
    gh.inject({ kind: 'raw', status: 403, body: { message: 'Resource not accessible by integration' } });

    const res = await http.request({ path: ISSUES });

    expect(res.status).toBe(403);
    expect(res.json).toMatchObject({ message: 'Resource not accessible by integration' });
    expect(slept).toEqual([]);
    expect(stats.rate_limit_waits).toBe(0);
  });
});

describe('tokens', () => {
  beforeAll(() => {
    gh.seed({ owner: 'acme', repo: 'app', issues: 3 });
  });

  it('refreshes a token that expires mid-run once, retries and goes on with the new token', async () => {
    const conn = await connect();
    const oldToken = await openAccessToken(conn);
    const { http, stats } = client(conn);
    expect((await http.request({ path: ISSUES })).status).toBe(200);
    const refreshes = env.provider.calls.refresh;

    gh.expireToken(oldToken);
    const res = await http.request({ path: ISSUES });
    const after = await http.request({ path: ISSUES });

    expect(res.status).toBe(200);
    expect(after.status).toBe(200);
    expect(env.provider.calls.refresh).toBe(refreshes + 1);
    const newToken = await openAccessToken((await reload(conn)) as ConnectionItem);
    expect(newToken).not.toBe(oldToken);
    expect(gh.calls.map((c) => [c.status, c.headers.authorization])).toEqual([
      [200, `Bearer ${oldToken}`],
      [401, `Bearer ${oldToken}`],
      [200, `Bearer ${newToken}`],
      [200, `Bearer ${newToken}`],
    ]);
    expect(stats.provider_calls).toBe(4);
  });

  it('throws ConnectionRejected when the new token is refused too (one refresh only)', async () => {
    const conn = await connect();
    const { http } = client(conn);
    const refreshes = env.provider.calls.refresh;
    gh.inject({ kind: 'raw', status: 401, body: { message: 'Bad credentials' }, times: 2 });

    const err = await http.request({ path: ISSUES }).catch((e) => e);

    expect(err).toBeInstanceOf(ConnectionRejected);
    expect(err.status).toBe(401);
    expect(env.provider.calls.refresh).toBe(refreshes + 1);
    expect(gh.calls).toHaveLength(2);
  });

  it('throws ConnectionRejected when the refresh itself is refused (refresh token revoked)', async () => {
    const conn = await connect();
    const { http } = client(conn);
    gh.expireToken(await openAccessToken(conn));
    env.provider.revokeAllRefreshTokens();

    const err = await http.request({ path: ISSUES }).catch((e) => e);

    expect(err).toBeInstanceOf(ConnectionRejected);
    expect((await reload(conn))?.status).toBe('EXPIRED');
  });

  it('never writes a token in logs or errors, through a refresh and a rejection', async () => {
    const logs = captureLogs();
    let messages = '';
    try {
      const conn = await connect();
      const { http } = client(conn);
      await http.request({ path: ISSUES });
      gh.expireToken(await openAccessToken(conn));
      await http.request({ path: ISSUES });
      gh.inject({ kind: 'raw', status: 401, body: { message: 'Bad credentials' }, times: 2 });
      const other = client((await reload(conn)) as ConnectionItem);
      messages += String((await other.http.request({ path: ISSUES }).catch((e) => e)).message);
      gh.inject({ kind: 'drop', times: 2 });
      messages += String((await other.http.request({ path: ISSUES }).catch((e) => e)).message);
    } finally {
      logs.stop();
    }
    const text = logs.lines() + messages;
    expect(text).toContain('provider call');
    for (const token of env.provider.issued) expect(text).not.toContain(token);
  });
});

describe('network failures', () => {
  beforeAll(() => {
    gh.seed({ owner: 'acme', repo: 'app', issues: 1 });
  });

  it('retries a read once after a failure without an answer', async () => {
    const { http, stats } = client(await connect());
    gh.inject({ kind: 'drop' });

    const res = await http.request({ path: ISSUES });

    expect(res.status).toBe(200);
    expect(stats.provider_calls).toBe(2);
  });

  it('throws ProviderCallError without a status after the second failure', async () => {
    const { http, stats } = client(await connect());
    gh.inject({ kind: 'drop', times: 2 });

    const err = await http.request({ path: ISSUES }).catch((e) => e);

    expect(err).toBeInstanceOf(ProviderCallError);
    expect(err.status).toBeUndefined();
    expect(stats.provider_calls).toBe(2);
  });

  it('never resends a POST that may have reached the provider', async () => {
    const { http, stats } = client(await connect());
    gh.inject({ kind: 'drop' });

    const err = await http.request({ method: 'POST', path: ISSUES, body: { title: 'once' } }).catch((e) => e);

    expect(err).toBeInstanceOf(ProviderCallError);
    expect(stats.provider_calls).toBe(1);
  });
});
