import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { routes } from '#functions/routes.ts';
import { handler as createToken } from '#functions/tokens/create-token.ts';
import { handler as getRateLimit } from '#functions/tokens/get-rate-limit.ts';
import { handler as getToken } from '#functions/tokens/get-token.ts';
import { handler as getTokenScopes } from '#functions/tokens/get-token-scopes.ts';
import { handler as listScopes } from '#functions/tokens/list-scopes.ts';
import { handler as listTokens } from '#functions/tokens/list-tokens.ts';
import { handler as revokeToken } from '#functions/tokens/revoke-token.ts';
import { handler as rotateToken } from '#functions/tokens/rotate-token.ts';
import { handler as updateToken } from '#functions/tokens/update-token.ts';
import { sha256Hex } from '#shared/crypto.ts';
import { db, tableName } from '#shared/db/client.ts';
import { MAX_ACTIVE_TOKENS } from '#shared/tokens/token-quota.ts';
import { findAuthRecord, hashToken } from '#shared/tokens/token-store.ts';
import { setEnv, useTestTable } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { type TestIdentity, testIdentity } from '#test/helpers/session.ts';
import { seedToken } from '#test/helpers/tokens.ts';

useTestTable();
let id: TestIdentity;
let admin: string;
let member: string;
let other: string;
beforeAll(async () => {
  setEnv({ RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '100000' });
  id = await testIdentity();
  admin = await id.jwt('alice', [{ id: 'ws1', role: 'admin' }]);
  member = await id.jwt('bob', [{ id: 'ws1', role: 'member' }]);
  other = await id.jwt('carol', [{ id: 'ws1', role: 'admin' }]);
});

const create = (token: string, body: unknown) => invoke(createToken, routes.createToken, { token, body });
const inDays = (d: number) => new Date(Date.now() + d * 86_400_000).toISOString();

describe('POST /tokens', () => {
  it('answers 201 with the value once and stores only its SHA-256', async () => {
    const res = await create(admin, { name: 'CI bot', scopes: ['read:tasks', 'write:projects'] });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id: expect.stringMatching(/^tok_/),
      name: 'CI bot',
      user_id: 'alice',
      workspace_id: 'ws1',
      scopes: ['read:tasks', 'write:projects'],
      status: 'active',
      is_active: true,
      last_used_at: null,
    });
    expect(res.body.token).toMatch(/^pfi_[0-9A-Za-z]{38}$/);
    const days = (Date.parse(res.body.expires_at) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(364.9);
    expect(days).toBeLessThan(365.1);

    const { Items = [] } = await db().send(new ScanCommand({ TableName: tableName() }));
    const dump = JSON.stringify(Items);
    expect(dump).not.toContain(res.body.token);
    expect(dump).toContain(sha256Hex(res.body.token));

    const again = await invoke(getToken, routes.getToken, { token: admin, params: { id: res.body.id } });
    expect(again.status).toBe(200);
    expect(JSON.stringify(again.body)).not.toContain(res.body.token);
    expect(again.body.token).toBeUndefined();
  });

  it('accepts an expires_at date as the end of that UTC day', async () => {
    const day = inDays(10).slice(0, 10);
    const res = await create(admin, { name: 'dated', scopes: ['read:tasks'], expires_at: day });
    expect(res.status).toBe(201);
    expect(res.body.expires_at).toBe(`${day}T23:59:59.000Z`);
  });

  it.each([
    ['malformed JSON', '{"name": ', 'body'],
    ['an empty name', { name: '  ', scopes: ['read:tasks'] }, 'body.name'],
    ['an over-long name', { name: 'x'.repeat(101), scopes: ['read:tasks'] }, 'body.name'],
    ['no scopes', { name: 'n', scopes: [] }, 'body.scopes'],
    ['duplicate scopes', { name: 'n', scopes: ['read:tasks', 'read:tasks'] }, 'body.scopes.1'],
    [
      'a malformed expires_at',
      { name: 'n', scopes: ['read:tasks'], expires_at: 'next week' },
      'body.expires_at',
    ],
    ['a past expires_at', { name: 'n', scopes: ['read:tasks'], expires_at: inDays(-1) }, 'body.expires_at'],
    [
      'an expires_at past the maximum',
      { name: 'n', scopes: ['read:tasks'], expires_at: inDays(800) },
      'body.expires_at',
    ],
    ['an unknown field', { name: 'n', scopes: ['read:tasks'], user_id: 'mallory' }, 'body'],
  ])('answers 400 for %s', async (_, body, path) => {
    const res = await create(admin, body);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
  });

  it('answers 400 listing each unknown scope', async () => {
    const res = await create(admin, { name: 'n', scopes: ['read:tasks', 'read:everything', 'sudo'] });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([
      { path: 'body.scopes.1', message: "Unknown scope 'read:everything'" },
      { path: 'body.scopes.2', message: "Unknown scope 'sudo'" },
    ]);
  });

  it('answers 403 when a member grants an admin scope, naming it', async () => {
    const res = await create(member, { name: 'n', scopes: ['write:webhooks', 'admin:webhooks'] });
    expect(res.status).toBe(403);
    expect(res.body.forbidden_scopes).toEqual(['admin:webhooks']);
    expect((await create(member, { name: 'n', scopes: ['write:webhooks'] })).status).toBe(201);
  });

  it('refuses an API token: token management needs a user session', async () => {
    const made = await create(admin, { name: 'n', scopes: ['admin:tokens'] });
    const res = await create(made.body.token, { name: 'child', scopes: ['read:tasks'] });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toContain('invalid_token');
  });
});

describe('responses', () => {
  it('never carry the token hash: create, get, list and rotate answer only declared fields', async () => {
    const made = await create(admin, { name: 'no hash', scopes: ['read:tasks'] });
    const rotated = await invoke(rotateToken, routes.rotateToken, {
      token: admin,
      params: { id: made.body.id },
    });
    const got = await invoke(getToken, routes.getToken, { token: admin, params: { id: made.body.id } });
    const list = await invoke(listTokens, routes.listTokens, { token: admin, query: { limit: '100' } });
    const listed = list.body.data.find((t: { id: string }) => t.id === made.body.id);
    for (const [what, body, value] of [
      ['create', made.body, made.body.token],
      ['rotate', rotated.body, rotated.body.token],
      ['get', got.body, rotated.body.token],
      ['list', listed, rotated.body.token],
    ] as const) {
      expect(body, what).toBeDefined();
      const text = JSON.stringify(body);
      expect(text, what).not.toContain(hashToken(value));
      expect(text, what).not.toContain(hashToken(made.body.token));
      for (const key of ['token_hash', 'hash', 'version', 'ttl', 'role', 'pk', 'sk', 'entity'])
        expect(Object.keys(body), `${what}: ${key}`).not.toContain(key);
    }
  });
});

describe('token quota', () => {
  it(`answers 409 once a user holds ${MAX_ACTIVE_TOKENS} tokens in a workspace; revoking one frees a slot`, async () => {
    const user = await id.jwt('hoarder', [{ id: 'ws1', role: 'member' }]);
    for (let i = 0; i < MAX_ACTIVE_TOKENS - 1; i++)
      await seedToken({ userId: 'hoarder', workspaceId: 'ws1', scopes: ['read:tasks'] });
    const last = await create(user, { name: 'fiftieth', scopes: ['read:tasks'] });
    expect(last.status).toBe(201);
    const over = await create(user, { name: 'one too many', scopes: ['read:tasks'] });
    expect(over.status).toBe(409);
    expect(over.headers['content-type']).toBe('application/problem+json');
    expect(over.body).toMatchObject({ max_active_tokens: MAX_ACTIVE_TOKENS });
    expect(over.body.detail).toMatch(/revoke/);
    // Another user, and the same user in another workspace, are not affected.
    expect((await create(member, { name: 'bob', scopes: ['read:tasks'] })).status).toBe(201);
    const ws2 = await id.jwt('hoarder', [{ id: 'ws2', role: 'member' }]);
    expect((await create(ws2, { name: 'elsewhere', scopes: ['read:tasks'] })).status).toBe(201);
    // Deactivating does not free a slot; revoking does.
    await invoke(updateToken, routes.updateToken, {
      token: user,
      params: { id: last.body.id },
      body: { is_active: false },
    });
    expect((await create(user, { name: 'still too many', scopes: ['read:tasks'] })).status).toBe(409);
    await invoke(revokeToken, routes.revokeToken, { token: user, params: { id: last.body.id } });
    expect((await create(user, { name: 'in its place', scopes: ['read:tasks'] })).status).toBe(201);
    expect((await create(user, { name: 'and no more', scopes: ['read:tasks'] })).status).toBe(409);
  });

  it('frees the slots of expired tokens when the cap is reached', async () => {
    const user = await id.jwt('expiring', [{ id: 'ws1', role: 'member' }]);
    const past = new Date(Date.now() - 1000).toISOString();
    await seedToken({ userId: 'expiring', workspaceId: 'ws1', scopes: ['read:tasks'], expiresAt: past });
    for (let i = 0; i < MAX_ACTIVE_TOKENS - 1; i++)
      await seedToken({ userId: 'expiring', workspaceId: 'ws1', scopes: ['read:tasks'] });
    expect((await create(user, { name: 'replaces the expired one', scopes: ['read:tasks'] })).status).toBe(
      201,
    );
    expect((await create(user, { name: 'one too many', scopes: ['read:tasks'] })).status).toBe(409);
  });

  it('lets exactly the free slots go to concurrent creations', async () => {
    const user = await id.jwt('racer', [{ id: 'ws1', role: 'member' }]);
    for (let i = 0; i < MAX_ACTIVE_TOKENS - 2; i++)
      await seedToken({ userId: 'racer', workspaceId: 'ws1', scopes: ['read:tasks'] });
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => create(user, { name: `race ${i}`, scopes: ['read:tasks'] })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 201, 409, 409, 409, 409]);
    const listed = await invoke(listTokens, routes.listTokens, {
      token: user,
      query: { limit: '100', status: 'active' },
    });
    expect(listed.body.data).toHaveLength(MAX_ACTIVE_TOKENS);
  });
});

describe('GET /tokens and /tokens/{id}', () => {
  it("lists only the caller's tokens, newest first, page by page", async () => {
    const mine: string[] = [];
    for (let i = 0; i < 3; i++)
      mine.unshift((await create(other, { name: `c${i}`, scopes: ['read:tasks'] })).body.id);
    await create(admin, { name: 'not carol', scopes: ['read:tasks'] });
    const first = await invoke(listTokens, routes.listTokens, { token: other, query: { limit: '2' } });
    expect(first.status).toBe(200);
    expect(first.body.data.map((t: { id: string }) => t.id)).toEqual(mine.slice(0, 2));
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await invoke(listTokens, routes.listTokens, {
      token: other,
      query: { limit: '2', cursor: first.body.next_cursor },
    });
    expect(second.body.data.map((t: { id: string }) => t.id)).toEqual(mine.slice(2));
  });

  it('filters by status', async () => {
    const user = await id.jwt('dave', [{ id: 'ws1', role: 'admin' }]);
    const a = (await create(user, { name: 'a', scopes: ['read:tasks'] })).body.id;
    const b = (await create(user, { name: 'b', scopes: ['read:tasks'] })).body.id;
    const c = (await create(user, { name: 'c', scopes: ['read:tasks'] })).body.id;
    await invoke(updateToken, routes.updateToken, {
      token: user,
      params: { id: b },
      body: { is_active: false },
    });
    await invoke(revokeToken, routes.revokeToken, { token: user, params: { id: c } });
    const ids = async (status: string) =>
      (await invoke(listTokens, routes.listTokens, { token: user, query: { status } })).body.data.map(
        (t: { id: string }) => t.id,
      );
    expect(await ids('active')).toEqual([a]);
    expect(await ids('inactive')).toEqual([b]);
    expect(await ids('revoked')).toEqual([c]);
    expect(await ids('expired')).toEqual([]);
    const bad = await invoke(listTokens, routes.listTokens, { token: user, query: { status: 'dead' } });
    expect(bad.status).toBe(400);
  });

  it("answers 404, not 403, for another user's token", async () => {
    const made = await create(admin, { name: 'alice only', scopes: ['read:tasks'] });
    for (const [h, r] of [
      [getToken, routes.getToken],
      [getTokenScopes, routes.getTokenScopes],
      [revokeToken, routes.revokeToken],
      [rotateToken, routes.rotateToken],
    ] as const) {
      const res = await invoke(h, r, { token: other, params: { id: made.body.id } });
      expect(res.status, r.id).toBe(404);
    }
    const patch = await invoke(updateToken, routes.updateToken, {
      token: other,
      params: { id: made.body.id },
      body: { name: 'mine now' },
    });
    expect(patch.status).toBe(404);
  });

  it('answers 404 for the caller’s own token asked for in another workspace', async () => {
    const both = await id.jwt('erin', [
      { id: 'ws1', role: 'admin' },
      { id: 'ws2', role: 'admin' },
    ]);
    const made = await invoke(createToken, routes.createToken, {
      token: both,
      headers: { 'x-workspace-id': 'ws1' },
      body: { name: 'ws1 only', scopes: ['read:tasks'] },
    });
    expect(made.status).toBe(201);
    const inWs2 = { token: both, headers: { 'x-workspace-id': 'ws2' }, params: { id: made.body.id } };
    for (const [h, r] of [
      [getToken, routes.getToken],
      [getTokenScopes, routes.getTokenScopes],
      [revokeToken, routes.revokeToken],
      [rotateToken, routes.rotateToken],
    ] as const) {
      expect((await invoke(h, r, inWs2)).status, r.id).toBe(404);
    }
    const patch = await invoke(updateToken, routes.updateToken, { ...inWs2, body: { is_active: false } });
    expect(patch.status).toBe(404);
    const listed = await invoke(listTokens, routes.listTokens, {
      token: both,
      headers: { 'x-workspace-id': 'ws2' },
    });
    expect(listed.body.data).toEqual([]);
    const inWs1 = await invoke(getToken, routes.getToken, { ...inWs2, headers: { 'x-workspace-id': 'ws1' } });
    expect(inWs1.body).toMatchObject({ id: made.body.id, status: 'active', is_active: true });
  });

  it('answers 400 for a malformed token id', async () => {
    const res = await invoke(getToken, routes.getToken, { token: admin, params: { id: 'tok_../../x' } });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].path).toBe('path.id');
  });
});

describe('scopes', () => {
  it('lists the catalog and a token’s scopes with descriptions', async () => {
    const catalog = await invoke(listScopes, routes.listScopes, { token: member });
    expect(catalog.status).toBe(200);
    expect(catalog.body.data).toContainEqual(
      expect.objectContaining({ name: 'admin:webhooks', min_role: 'admin', description: expect.any(String) }),
    );
    const made = await create(admin, { name: 'n', scopes: ['read:tasks', 'admin:plugins'] });
    const res = await invoke(getTokenScopes, routes.getTokenScopes, {
      token: admin,
      params: { id: made.body.id },
    });
    expect(res.status).toBe(200);
    expect(res.body.scopes.map((s: { name: string }) => s.name).sort()).toEqual([
      'admin:plugins',
      'read:tasks',
    ]);
  });
});

describe('PATCH /tokens/{id}', () => {
  it('renames and deactivates; a deactivated token is refused on the next request', async () => {
    const made = await create(admin, { name: 'old', scopes: ['read:tasks'] });
    expect((await invoke(getRateLimit, routes.getRateLimit, { token: made.body.token })).status).toBe(200);
    const res = await invoke(updateToken, routes.updateToken, {
      token: admin,
      params: { id: made.body.id },
      body: { name: 'new', is_active: false },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'new', is_active: false, status: 'inactive' });
    expect((await invoke(getRateLimit, routes.getRateLimit, { token: made.body.token })).status).toBe(401);
    await invoke(updateToken, routes.updateToken, {
      token: admin,
      params: { id: made.body.id },
      body: { is_active: true },
    });
    expect((await invoke(getRateLimit, routes.getRateLimit, { token: made.body.token })).status).toBe(200);
  });

  it.each([
    [{ scopes: ['admin:tasks'] }],
    [{ token_hash: 'x' }],
    [{ user_id: 'mallory' }],
    [{ expires_at: '2099-01-01' }],
    [{}],
    [{ name: '' }],
    [{ is_active: 'yes' }],
  ])('answers 400 for %j', async (body) => {
    const made = await create(admin, { name: 'n', scopes: ['read:tasks'] });
    const res = await invoke(updateToken, routes.updateToken, {
      token: admin,
      params: { id: made.body.id },
      body,
    });
    expect(res.status).toBe(400);
    const after = await invoke(getToken, routes.getToken, { token: admin, params: { id: made.body.id } });
    expect(after.body).toMatchObject({ name: 'n', scopes: ['read:tasks'], is_active: true });
  });

  it('answers 409 for a revoked token', async () => {
    const made = await create(admin, { name: 'n', scopes: ['read:tasks'] });
    await invoke(revokeToken, routes.revokeToken, { token: admin, params: { id: made.body.id } });
    const res = await invoke(updateToken, routes.updateToken, {
      token: admin,
      params: { id: made.body.id },
      body: { is_active: true },
    });
    expect(res.status).toBe(409);
  });
});

describe('re-activation and rotation after a demotion', () => {
  const adminOf = () => id.jwt('frank', [{ id: 'ws1', role: 'admin' }]);
  const memberOf = () => id.jwt('frank', [{ id: 'ws1', role: 'member' }]);

  it('answers 403 naming the scopes when a demoted user re-activates or rotates an admin-scoped token', async () => {
    const made = await create(await adminOf(), { name: 'admin', scopes: ['read:tasks', 'admin:webhooks'] });
    expect(made.status).toBe(201);
    const demoted = await memberOf();
    const off = await invoke(updateToken, routes.updateToken, {
      token: demoted,
      params: { id: made.body.id },
      body: { is_active: false },
    });
    expect(off.status).toBe(200);
    const on = await invoke(updateToken, routes.updateToken, {
      token: demoted,
      params: { id: made.body.id },
      body: { is_active: true },
    });
    expect(on.status).toBe(403);
    expect(on.body.forbidden_scopes).toEqual(['admin:webhooks']);
    const rotated = await invoke(rotateToken, routes.rotateToken, {
      token: demoted,
      params: { id: made.body.id },
    });
    expect(rotated.status).toBe(403);
    expect(rotated.body.forbidden_scopes).toEqual(['admin:webhooks']);
    const view = await invoke(getToken, routes.getToken, { token: demoted, params: { id: made.body.id } });
    expect(view.body).toMatchObject({ is_active: false, rotated_at: null });
    // With the admin role again, both work.
    const back = await invoke(updateToken, routes.updateToken, {
      token: await adminOf(),
      params: { id: made.body.id },
      body: { is_active: true },
    });
    expect(back.status).toBe(200);
  });

  it('records the caller’s current role on the new authentication record', async () => {
    const made = await create(await adminOf(), { name: 'plain', scopes: ['read:tasks'] });
    expect((await findAuthRecord(hashToken(made.body.token)))?.role).toBe('admin');
    const rotated = await invoke(rotateToken, routes.rotateToken, {
      token: await memberOf(),
      params: { id: made.body.id },
    });
    expect(rotated.status).toBe(200);
    expect((await findAuthRecord(hashToken(rotated.body.token)))?.role).toBe('member');

    const other = await create(await adminOf(), { name: 'plain 2', scopes: ['read:tasks'] });
    const params = { id: other.body.id };
    await invoke(updateToken, routes.updateToken, {
      token: await adminOf(),
      params,
      body: { is_active: false },
    });
    const on = await invoke(updateToken, routes.updateToken, {
      token: await memberOf(),
      params,
      body: { is_active: true },
    });
    expect(on.status).toBe(200);
    expect(await findAuthRecord(hashToken(other.body.token))).toMatchObject({
      role: 'member',
      is_active: true,
    });
  });
});

describe('DELETE /tokens/{id}', () => {
  it('revokes: the very next request with the token is a 401, and revoking again is a 204', async () => {
    const made = await create(admin, { name: 'n', scopes: ['read:tasks'] });
    expect((await invoke(getRateLimit, routes.getRateLimit, { token: made.body.token })).status).toBe(200);
    const res = await invoke(revokeToken, routes.revokeToken, { token: admin, params: { id: made.body.id } });
    expect(res.status).toBe(204);
    const after = await invoke(getRateLimit, routes.getRateLimit, { token: made.body.token });
    expect(after.status).toBe(401);
    expect(after.headers['www-authenticate']).toContain('error="invalid_token"');
    const view = await invoke(getToken, routes.getToken, { token: admin, params: { id: made.body.id } });
    expect(view.body).toMatchObject({ status: 'revoked', revoked_at: expect.any(String), is_active: false });
    expect(
      (await invoke(revokeToken, routes.revokeToken, { token: admin, params: { id: made.body.id } })).status,
    ).toBe(204);
  });
});

describe('POST /tokens/{id}/rotate', () => {
  it('issues a new value with the same id and scopes; the old value stops working', async () => {
    const made = await create(admin, { name: 'n', scopes: ['read:tasks', 'write:webhooks'] });
    const res = await invoke(rotateToken, routes.rotateToken, { token: admin, params: { id: made.body.id } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: made.body.id,
      scopes: ['read:tasks', 'write:webhooks'],
      status: 'active',
    });
    expect(res.body.token).not.toBe(made.body.token);
    expect(res.body.rotated_at).toEqual(expect.any(String));
    expect((await invoke(getRateLimit, routes.getRateLimit, { token: made.body.token })).status).toBe(401);
    expect((await invoke(getRateLimit, routes.getRateLimit, { token: res.body.token })).status).toBe(200);
  });

  it('answers 409 to one of two concurrent rotations of the same token', async () => {
    const made = await create(admin, { name: 'n', scopes: ['read:tasks'] });
    // Hold each rotation's write until both have read the token, so they truly race.
    let waiting = 0;
    let release: () => void = () => {};
    const bothRead = new Promise<void>((r) => {
      release = r;
    });
    const name = 'barrier';
    db().middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'TransactWriteItemsCommand') {
          waiting += 1;
          if (waiting === 2) release();
          await bothRead;
        }
        return next(args);
      },
      { step: 'initialize', name },
    );
    try {
      const results = await Promise.all([
        invoke(rotateToken, routes.rotateToken, { token: admin, params: { id: made.body.id } }),
        invoke(rotateToken, routes.rotateToken, { token: admin, params: { id: made.body.id } }),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
      const winner = results.find((r) => r.status === 200);
      expect((await invoke(getRateLimit, routes.getRateLimit, { token: winner?.body.token })).status).toBe(
        200,
      );
    } finally {
      db().middlewareStack.remove(name);
    }
  });

  it('answers 409 for a revoked token', async () => {
    const made = await create(admin, { name: 'n', scopes: ['read:tasks'] });
    await invoke(revokeToken, routes.revokeToken, { token: admin, params: { id: made.body.id } });
    const res = await invoke(rotateToken, routes.rotateToken, { token: admin, params: { id: made.body.id } });
    expect(res.status).toBe(409);
  });
});
