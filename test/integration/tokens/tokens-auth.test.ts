import * as v from 'valibot';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/routes.ts';
import { handler as getRateLimit } from '#functions/tokens/get-rate-limit.ts';
import { handler as listTokens } from '#functions/tokens/list-tokens.ts';
import { ok } from '#shared/http/reply.ts';
import { type RouteDef, route } from '#shared/http/route.ts';
import { generateToken } from '#shared/tokens/format.ts';
import { consume, rateSubject } from '#shared/tokens/rate-limit.ts';
import { setEnv, useTestTable } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { type TestIdentity, testIdentity } from '#test/helpers/session.ts';
import { countDynamoCalls, seedToken } from '#test/helpers/tokens.ts';

useTestTable();
let id: TestIdentity;
beforeAll(async () => {
  id = await testIdentity();
});
afterEach(() => {
  vi.restoreAllMocks();
  setEnv({ RATE_LIMIT_TIER_FREE_REQ_PER_MIN: undefined });
});

const scopedRoute = (name: string, scopes: string[]): RouteDef =>
  route({
    id: name,
    method: 'GET',
    path: `/test/${name}`,
    handler: `test/${name}`,
    auth: 'user_or_token',
    scopes,
    summary: name,
    tag: 'Test',
    responses: { 200: { description: 'ok', schema: v.object({ kind: v.string() }) } },
  });
const readWebhooks = scopedRoute('readWebhooks', ['read:webhooks']);
const adminWebhooks = scopedRoute('adminWebhooks', ['admin:webhooks']);
const whoami = ({ caller }: { caller: { kind: string } }) => ok({ kind: caller.kind });
const readHandler = endpoint(readWebhooks, whoami);
const adminHandler = endpoint(adminWebhooks, whoami);

describe('authentication with an API token', () => {
  it('accepts a token in the Authorization header and answers with rate-limit headers', async () => {
    const { value } = await seedToken({ scopes: ['read:webhooks'] });
    const res = await invoke(getRateLimit, routes.getRateLimit, { token: value });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ subject: 'token', plan: 'free', limit: 60, remaining: 59, used: 1 });
    expect(res.headers['ratelimit-policy']).toBe('"free";q=60;w=60');
    expect(res.headers.ratelimit).toMatch(/^"free";r=59;t=\d+$/);
    expect(res.headers['x-ratelimit-limit']).toBe('60');
    expect(res.headers['x-ratelimit-remaining']).toBe('59');
    expect(Number(res.headers['x-ratelimit-reset'])).toBeGreaterThan(Date.now() / 1000);
  });

  it('costs exactly 2 DynamoDB round trips: the token GetItem and the counter UpdateItem', async () => {
    const { value } = await seedToken({ scopes: ['read:webhooks'] });
    const counter = countDynamoCalls();
    try {
      const res = await invoke(readHandler, readWebhooks, { token: value });
      expect(res.status).toBe(200);
      expect(counter.calls).toEqual(['GetItemCommand', 'UpdateItemCommand']);
    } finally {
      counter.stop();
    }
  });

  it('costs 2 DynamoDB round trips for a session too: plan and membership record in one BatchGetItem, the counter', async () => {
    const jwt = await id.jwt('s1', [{ id: 'ws1', role: 'member' }]);
    const counter = countDynamoCalls();
    try {
      expect((await invoke(readHandler, readWebhooks, { token: jwt })).status).toBe(200);
      expect(counter.calls).toEqual(['BatchGetItemCommand', 'UpdateItemCommand']);
    } finally {
      counter.stop();
    }
  });

  it('refuses a mistyped or made-up token with 401 and no DynamoDB call at all', async () => {
    const { value } = await seedToken({});
    const typo = `${value.slice(0, 10)}${value[10] === 'a' ? 'b' : 'a'}${value.slice(11)}`;
    const counter = countDynamoCalls();
    try {
      for (const bad of [typo, 'pfi_short', `pfi_${'x'.repeat(38)}`]) {
        const res = await invoke(readHandler, readWebhooks, { token: bad });
        expect(res.status, bad).toBe(401);
        expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
        expect(res.body.detail).toMatch(/malformed/);
      }
      expect(counter.calls).toEqual([]);
    } finally {
      counter.stop();
    }
  });

  it('answers 401 for an unknown well-formed token and for an expired one', async () => {
    const unknown = await invoke(readHandler, readWebhooks, { token: generateToken() });
    expect(unknown.status).toBe(401);
    expect(unknown.headers['www-authenticate']).toContain('error="invalid_token"');
    const expired = await seedToken({ expiresAt: new Date(Date.now() - 1000).toISOString() });
    const res = await invoke(readHandler, readWebhooks, { token: expired.value });
    expect(res.status).toBe(401);
    const session = await id.jwt('u1', [{ id: 'ws1', role: 'admin' }]);
    const list = await invoke(listTokens, routes.listTokens, {
      token: session,
      query: { status: 'expired' },
    });
    expect(list.body.data.map((t: { id: string }) => t.id)).toContain(expired.id);
  });

  it.each(['access_token', 'token', 'api_key', 'private_token', 'key', 'Private_Token'])(
    'refuses a token sent in the query string as %s, even with a valid header',
    async (name) => {
      const { value } = await seedToken({});
      const res = await invoke(readHandler, readWebhooks, { query: { [name]: value }, token: value });
      expect(res.status).toBe(401);
      expect(res.body.detail).toMatch(/query string/);
    },
  );

  it('refuses any query value that starts with pfi_, whatever the parameter is called', async () => {
    const { value } = await seedToken({ scopes: ['read:webhooks'] });
    const queries: Record<string, string>[] = [
      { q: value },
      { filter: 'pfi_anything' },
      { ids: `a,${value}` },
    ];
    for (const query of queries) {
      const res = await invoke(readHandler, readWebhooks, { query, token: value });
      expect(res.status, JSON.stringify(query)).toBe(401);
      expect(res.body.detail).toMatch(/query string/);
    }
    const harmless = await invoke(readHandler, readWebhooks, { query: { q: 'apfi_' }, token: value });
    expect(harmless.status).toBe(200);
  });

  it('answers 403 when X-Workspace-Id names another workspace than the token’s, counted like any request', async () => {
    const { value } = await seedToken({
      userId: 'wsmismatch',
      workspaceId: 'ws1',
      scopes: ['read:webhooks'],
    });
    const res = await invoke(readHandler, readWebhooks, {
      token: value,
      headers: { 'x-workspace-id': 'ws2' },
    });
    expect(res.status).toBe(403);
    expect(res.body.detail).toContain("'ws2'");
    expect(res.headers['x-ratelimit-used']).toBe('1');
    const same = await invoke(readHandler, readWebhooks, {
      token: value,
      headers: { 'x-workspace-id': 'ws1' },
    });
    expect(same.status).toBe(200);
    expect(same.headers['x-ratelimit-used']).toBe('2');
  });
});

describe('scopes on routes', () => {
  it('answers 403 naming the required scope when the token lacks it, with rate-limit headers', async () => {
    const { value } = await seedToken({ scopes: ['read:tasks'] });
    const res = await invoke(readHandler, readWebhooks, { token: value });
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.body.required_scopes).toEqual(['read:webhooks']);
    expect(res.body.detail).toContain('read:webhooks');
    expect(res.headers['x-ratelimit-limit']).toBe('60');
  });

  it('lets write and admin scopes cover read on the same resource', async () => {
    const writer = await seedToken({ scopes: ['write:webhooks'] });
    expect((await invoke(readHandler, readWebhooks, { token: writer.value })).status).toBe(200);
    expect((await invoke(adminHandler, adminWebhooks, { token: writer.value })).status).toBe(403);
    const adminTok = await seedToken({ scopes: ['admin:webhooks'] });
    expect((await invoke(adminHandler, adminWebhooks, { token: adminTok.value })).status).toBe(200);
  });

  it('checks session users by role: admin scopes need the admin role', async () => {
    const member = await id.jwt('m1', [{ id: 'ws1', role: 'member' }]);
    const admin = await id.jwt('a1', [{ id: 'ws1', role: 'admin' }]);
    expect((await invoke(readHandler, readWebhooks, { token: member })).status).toBe(200);
    const denied = await invoke(adminHandler, adminWebhooks, { token: member });
    expect(denied.status).toBe(403);
    expect(denied.body.required_scopes).toEqual(['admin:webhooks']);
    expect((await invoke(adminHandler, adminWebhooks, { token: admin })).status).toBe(200);
  });
});

describe('rate limiting', () => {
  it('lets exactly 60 of 200 concurrent requests through on the free plan and answers 429 to the rest', async () => {
    const { value } = await seedToken({ userId: 'burst', scopes: ['read:webhooks'] });
    // Freeze the clock mid-window so the burst cannot straddle two windows.
    const mid = Math.floor(Date.now() / 60_000) * 60_000 + 30_000;
    vi.spyOn(Date, 'now').mockReturnValue(mid);
    const results = await Promise.all(
      Array.from({ length: 200 }, () => invoke(getRateLimit, routes.getRateLimit, { token: value })),
    );
    const ok = results.filter((r) => r.status === 200);
    const limited = results.filter((r) => r.status === 429);
    expect(ok).toHaveLength(60);
    expect(limited).toHaveLength(140);
    const remaining = ok.map((r) => Number(r.headers['x-ratelimit-remaining'])).sort((a, b) => a - b);
    expect(remaining).toEqual(Array.from({ length: 60 }, (_, i) => i));
    const one = limited[0];
    expect(one?.headers['retry-after']).toBe('30');
    expect(one?.headers['content-type']).toBe('application/problem+json');
    expect(one?.headers['x-ratelimit-remaining']).toBe('0');
    expect(one?.headers.ratelimit).toBe('"free";r=0;t=30');
    expect(one?.body).toMatchObject({ status: 429, title: 'Too many requests' });
  });

  it('shares one budget between every token and the sessions of a user in a workspace', async () => {
    setEnv({ RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '5' });
    const mid = Math.floor(Date.now() / 60_000) * 60_000 + 30_000;
    vi.spyOn(Date, 'now').mockReturnValue(mid);
    const tokens = await Promise.all(
      [1, 2, 3].map(() => seedToken({ userId: 'shared', workspaceId: 'ws1', scopes: ['read:tasks'] })),
    );
    const session = await id.jwt('shared', [{ id: 'ws1', role: 'member' }]);
    const credentials = [...tokens.map((t) => t.value), session];
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await invoke(getRateLimit, routes.getRateLimit, { token: credentials[i % 4] });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    const last = await invoke(getRateLimit, routes.getRateLimit, { token: tokens[0]?.value });
    expect(last.headers['x-ratelimit-used']).toBe('5');
    // Another user of the workspace, and the same user in another workspace, have budgets of their own.
    const other = await seedToken({ userId: 'not-shared', workspaceId: 'ws1', scopes: ['read:tasks'] });
    expect((await invoke(getRateLimit, routes.getRateLimit, { token: other.value })).status).toBe(200);
    const elsewhere = await seedToken({ userId: 'shared', workspaceId: 'ws2', scopes: ['read:tasks'] });
    expect((await invoke(getRateLimit, routes.getRateLimit, { token: elsewhere.value })).status).toBe(200);
  });

  it('keys the counter by workspace and user, whatever the credential', () => {
    const token = { kind: 'token', workspaceId: 'ws#1', userId: 'u#1', tokenId: 'tok_a' } as const;
    const session = { kind: 'session', workspaceId: 'ws#1', userId: 'u#1' } as const;
    expect(rateSubject(token)).toBe(rateSubject(session));
    expect(rateSubject(token)).toBe('USER#ws%231#u%231');
    expect(rateSubject({ workspaceId: 'ws#1#u', userId: '1' })).not.toBe(rateSubject(token));
  });

  it('starts counting again in the next window', async () => {
    const t0 = Math.floor(Date.now() / 60_000) * 60_000;
    setEnv({ RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '2' });
    const subject = 'USER#ws1#window-test';
    expect((await consume(subject, 'free', t0)).allowed).toBe(true);
    expect((await consume(subject, 'free', t0 + 1000)).allowed).toBe(true);
    const third = await consume(subject, 'free', t0 + 59_000);
    expect(third).toMatchObject({ allowed: false, used: 2, remaining: 0 });
    expect((await consume(subject, 'free', t0 + 60_000)).allowed).toBe(true);
  });

  it('limits session traffic per user and workspace, with headers on error responses too', async () => {
    setEnv({ RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '3' });
    const mid = Math.floor(Date.now() / 60_000) * 60_000 + 30_000;
    vi.spyOn(Date, 'now').mockReturnValue(mid);
    const eve = await id.jwt('eve', [{ id: 'ws1', role: 'member' }]);
    const frank = await id.jwt('frank', [{ id: 'ws1', role: 'member' }]);
    const bad = await invoke(listTokens, routes.listTokens, { token: eve, query: { limit: '1000' } });
    expect(bad.status).toBe(400);
    expect(bad.headers['x-ratelimit-remaining']).toBe('2');
    const statuses = [];
    for (let i = 0; i < 3; i++)
      statuses.push((await invoke(listTokens, routes.listTokens, { token: eve })).status);
    expect(statuses).toEqual([200, 200, 429]);
    expect((await invoke(listTokens, routes.listTokens, { token: frank })).status).toBe(200);
  });
});
