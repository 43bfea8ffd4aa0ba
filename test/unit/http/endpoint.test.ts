import { SignJWT } from 'jose';
import * as v from 'valibot';
import { beforeAll, describe, expect, it } from 'vitest';
import { endpoint } from '#functions/endpoint.ts';
import { resetSessionKeys } from '#shared/auth/session.ts';
import { AppError, ConflictError } from '#shared/errors.ts';
import { notImplemented } from '#shared/http/endpoint.ts';
import { created, ok } from '#shared/http/reply.ts';
import { type RouteDef, route } from '#shared/http/route.ts';
import { coerceNumber } from '#shared/validation.ts';
import { setEnv, useTestTable } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { type TestIdentity, testIdentity } from '#test/helpers/session.ts';

const echoRoute = route({
  id: 'echo',
  method: 'POST',
  path: '/echo/{id}',
  handler: 'test/echo',
  auth: 'user',
  scopes: [],
  summary: 'echo',
  tag: 'Test',
  params: v.object({ id: v.pipe(v.string(), v.minLength(2)) }),
  query: v.object({ n: v.optional(v.pipe(coerceNumber(), v.safeInteger(), v.maxValue(5)), 1) }),
  body: v.object({ name: v.pipe(v.string(), v.minLength(1), v.maxLength(10)) }),
  responses: {
    201: {
      description: 'ok',
      schema: v.object({ id: v.string(), name: v.string(), n: v.number(), user: v.string(), ws: v.string() }),
    },
  },
});
const echo = endpoint(echoRoute, ({ params, query, body, caller }) =>
  created({ id: params.id, name: body.name, n: query.n, user: caller.userId, ws: caller.workspaceId }),
);

// Session authentication reads the user's membership record (and never fails open without it).
useTestTable();
let id: TestIdentity;
let jwt: string;
beforeAll(async () => {
  setEnv({ MAX_BODY_SIZE_KB: '1', CORS_ALLOWED_ORIGINS: 'https://app.pronaflow.com' });
  id = await testIdentity();
  jwt = await id.jwt('u1', 'ws1');
});

const good = () => ({ params: { id: 'abc' }, body: { name: 'x' }, token: jwt });

describe('endpoint()', () => {
  it('passes validated input and the caller to the handler and answers 201 JSON', async () => {
    const res = await invoke(echo, echoRoute, { ...good(), query: { n: '3' } });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id: 'abc', name: 'x', n: 3, user: 'u1', ws: 'ws1' });
    expect(res.headers['content-type']).toBe('application/json');
  });

  it('sets security headers and a request id on every response', async () => {
    const res = await invoke(echo, echoRoute, good());
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['strict-transport-security']).toContain('max-age=');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['x-request-id']).toMatch(/.+/);
    const bad = await invoke(echo, echoRoute, { ...good(), body: '{' });
    expect(bad.headers['x-content-type-options']).toBe('nosniff');
  });

  it('adds CORS headers only for allowed origins', async () => {
    const allowed = await invoke(echo, echoRoute, {
      ...good(),
      headers: { origin: 'https://app.pronaflow.com' },
    });
    expect(allowed.headers['access-control-allow-origin']).toBe('https://app.pronaflow.com');
    const other = await invoke(echo, echoRoute, { ...good(), headers: { origin: 'https://evil.example' } });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('answers 400 problem+json for malformed JSON', async () => {
    const res = await invoke(echo, echoRoute, { ...good(), body: '{"name": ' });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.body).toMatchObject({ status: 400, title: expect.any(String), errors: [{ path: 'body' }] });
    expect(res.body.request_id).toBe(res.headers['x-request-id']);
  });

  it('answers 400 listing each invalid field of path, query and body', async () => {
    const res = await invoke(echo, echoRoute, {
      params: { id: 'a' },
      query: { n: '9' },
      body: { name: '' },
      token: jwt,
    });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(['path.id']);
    const q = await invoke(echo, echoRoute, { ...good(), query: { n: '9' } });
    expect(q.body.errors[0].path).toBe('query.n');
    const b = await invoke(echo, echoRoute, { ...good(), body: { name: 'much too long name' } });
    expect(b.body.errors[0].path).toBe('body.name');
  });

  it('answers 413 when the body is over MAX_BODY_SIZE_KB', async () => {
    const res = await invoke(echo, echoRoute, { ...good(), body: { name: 'x'.repeat(2000) } });
    expect(res.status).toBe(413);
    expect(res.body.type).toMatch(/payload-too-large$/);
  });

  it('answers 415 for a body that is not JSON', async () => {
    const res = await invoke(echo, echoRoute, { ...good(), headers: { 'content-type': 'text/plain' } });
    expect(res.status).toBe(415);
  });

  it('answers 401 with WWW-Authenticate without credentials', async () => {
    const res = await invoke(echo, echoRoute, { params: { id: 'abc' }, body: { name: 'x' } });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm=/);
    expect(res.headers['content-type']).toBe('application/problem+json');
  });

  it('answers 401 invalid_token for expired, foreign-audience, badly signed or malformed JWTs', async () => {
    const expired = await id.jwt('u1', 'ws1', { expiresIn: Math.floor(Date.now() / 1000) - 60 });
    const wrongAud = await id.jwt('u1', 'ws1', { audience: 'someone-else' });
    const wrongIss = await id.jwt('u1', 'ws1', { issuer: 'https://evil.example' });
    const otherKey = await new SignJWT({ workspaces: [{ id: 'ws1', role: 'admin' }] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('u1')
      .setIssuer('https://identity.pronaflow.local')
      .setAudience('pronaflow-integrations')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('x'.repeat(32)));
    for (const token of [expired, wrongAud, wrongIss, otherKey, 'not.a.jwt']) {
      const res = await invoke(echo, echoRoute, { ...good(), token });
      expect(res.status, token).toBe(401);
      expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
    }
    const res = await invoke(echo, echoRoute, { ...good(), token: expired });
    expect(res.body.detail).toMatch(/expired/);
  });

  it.each([
    ['access_token', 'x'],
    ['token', 'x'],
    ['api_key', 'x'],
    ['private_token', 'x'],
    ['key', 'x'],
    ['n', 'pfi_0123456789'],
  ])('refuses credentials in the query string (%s=%s)', async (name, value) => {
    const res = await invoke(echo, echoRoute, { ...good(), query: { [name]: value } });
    expect(res.status).toBe(401);
    expect(res.body.detail).toMatch(/query string/);
  });

  it('picks the workspace from X-Workspace-Id and refuses one the user is not in', async () => {
    const multi = await id.jwt('u2', [
      { id: 'ws1', role: 'member' },
      { id: 'ws2', role: 'admin' },
    ]);
    const none = await invoke(echo, echoRoute, { ...good(), token: multi });
    expect(none.status).toBe(400);
    const chosen = await invoke(echo, echoRoute, {
      ...good(),
      token: multi,
      headers: { 'x-workspace-id': 'ws2' },
    });
    expect(chosen.body.ws).toBe('ws2');
    const foreign = await invoke(echo, echoRoute, {
      ...good(),
      token: multi,
      headers: { 'x-workspace-id': 'ws9' },
    });
    expect(foreign.status).toBe(403);
  });

  it('answers 403 to a member on an admin-only route', async () => {
    const adminRoute = { ...echoRoute, id: 'adminEcho', role: 'admin' } as RouteDef;
    const h = endpoint(adminRoute, () => created({ id: 'x', name: 'x', n: 1, user: 'u', ws: 'w' }));
    const member = await id.jwt('u3', [{ id: 'ws1', role: 'member' }]);
    expect((await invoke(h, adminRoute, { ...good(), token: member })).status).toBe(403);
    expect((await invoke(h, adminRoute, good())).status).toBe(201);
  });

  it('keeps the status, detail and extras of domain errors', async () => {
    const h = endpoint(echoRoute, () => {
      throw new ConflictError('Already there.', { extra: { existing_id: 'x1' } });
    });
    const res = await invoke(h, echoRoute, good());
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ detail: 'Already there.', existing_id: 'x1' });
  });

  it('answers 500 without leaking the cause of unexpected errors', async () => {
    const h = endpoint(echoRoute, () => {
      throw new Error('ConnectionRefused at 10.0.0.7:8000 password=hunter2');
    });
    const res = await invoke(h, echoRoute, good());
    expect(res.status).toBe(500);
    expect(JSON.stringify(res.body)).not.toMatch(/10\.0\.0\.7|hunter2|Connection/);
    expect(res.body.request_id).toBeTruthy();
    const hidden = endpoint(echoRoute, () => {
      throw new AppError(500, 'x', 'Internal', 'secret internals');
    });
    expect(JSON.stringify((await invoke(hidden, echoRoute, good())).body)).not.toContain('secret internals');
  });

  it('fails loudly when a reply breaks the route schema (outside production)', async () => {
    const h = endpoint(echoRoute, () => created({ wrong: true }));
    expect((await invoke(h, echoRoute, good())).status).toBe(500);
    const undeclared = endpoint(echoRoute, () => ok({}));
    expect((await invoke(undeclared, echoRoute, good())).status).toBe(500);
  });

  it('sends only the fields the response schema declares (a stray hash never leaks)', async () => {
    const h = endpoint(echoRoute, () =>
      created({ id: 'a', name: 'b', n: 1, user: 'u', ws: 'w', token_hash: 'f'.repeat(64), pk: 'WS#w' }),
    );
    const res = await invoke(h, echoRoute, good());
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id: 'a', name: 'b', n: 1, user: 'u', ws: 'w' });
  });

  it('checks and strips replies in production too', async () => {
    const before = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      const stray = endpoint(echoRoute, () =>
        created({ id: 'a', name: 'b', n: 1, user: 'u', ws: 'w', token_hash: 'secret' }),
      );
      const res = await invoke(stray, echoRoute, good());
      expect(res.status).toBe(201);
      expect(res.body.token_hash).toBeUndefined();
      const broken = endpoint(echoRoute, () => created({ wrong: true }));
      expect((await invoke(broken, echoRoute, good())).status).toBe(500);
      const undeclared = endpoint(echoRoute, () => ok({}));
      expect((await invoke(undeclared, echoRoute, good())).status).toBe(500);
    } finally {
      process.env.NODE_ENV = before;
    }
  });

  it('exposes the rate-limit and authentication headers to browsers', async () => {
    const res = await invoke(echo, echoRoute, {
      ...good(),
      headers: { origin: 'https://app.pronaflow.com' },
    });
    const exposed = res.headers['access-control-expose-headers']?.toLowerCase().split(', ') ?? [];
    for (const h of [
      'RateLimit',
      'RateLimit-Policy',
      'X-RateLimit-Limit',
      'X-RateLimit-Remaining',
      'X-RateLimit-Reset',
      'X-RateLimit-Used',
      'Retry-After',
      'WWW-Authenticate',
      'X-Request-Id',
    ])
      expect(exposed, h).toContain(h.toLowerCase());
  });

  it('answers 501 naming the capability for routes that are not built yet', async () => {
    const pendingRoute = { ...echoRoute, pending: 'Teleportation', responses: {} } as RouteDef;
    const res = await invoke(notImplemented(pendingRoute, endpoint), pendingRoute, good());
    expect(res.status).toBe(501);
    expect(res.body).toMatchObject({
      capability: 'Teleportation',
      detail: 'Teleportation is not implemented yet.',
    });
  });

  it("refuses tokens signed with a replaced key and accepts the new key's", async () => {
    const other = await testIdentity();
    resetSessionKeys();
    expect((await invoke(echo, echoRoute, good())).status).toBe(401);
    expect((await invoke(echo, echoRoute, { ...good(), token: await other.jwt('u1', 'ws1') })).status).toBe(
      201,
    );
  });
});
