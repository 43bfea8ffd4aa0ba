import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { routeList, routes } from '#functions/routes.ts';
import { handler as createToken } from '#functions/tokens/create-token.ts';
import { handler as getRateLimit } from '#functions/tokens/get-rate-limit.ts';
import { handler as listTokens } from '#functions/tokens/list-tokens.ts';
import { handler as rotateToken } from '#functions/tokens/rotate-token.ts';
import { handler as updateToken } from '#functions/tokens/update-token.ts';
import { handler as createWebhook } from '#functions/webhooks/create-webhook.ts';
import { consumers } from '#functions/workers/ingest-events.ts';
import { ingestMessage } from '#shared/events/ingest.ts';
import type { RouteDef } from '#shared/http/route.ts';
import * as service from '#shared/tokens/service.ts';
import { setEnv, useTestSqs, useTestTable } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { useMemorySecrets } from '#test/helpers/secrets.ts';
import { type TestIdentity, testIdentity } from '#test/helpers/session.ts';
import { countDynamoCalls, seedToken } from '#test/helpers/tokens.ts';

/**
 * A session JWT is PronaFlow's word about the user at the time it was issued (`iat`). The
 * membership events the service records since (removal, demotion) must win over it: a session
 * issued before the last recorded change is held to what that record allows.
 */
useTestTable();
useTestSqs();
let id: TestIdentity;
beforeAll(async () => {
  setEnv({ RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '100000', ALLOW_LOOPBACK_TARGETS: 'false' });
  useMemorySecrets();
  id = await testIdentity();
});

const nowSec = () => Math.floor(Date.now() / 1000);
const ago = (seconds: number) => new Date(Date.now() - seconds * 1000).toISOString();

let n = 0;
const emit = (type: string, ws: string, data: unknown, occurredAt: string) =>
  ingestMessage(
    `sm${++n}`,
    JSON.stringify({ id: `evt_s${n}`, type, workspace_id: ws, occurred_at: occurredAt, data }),
    consumers,
  );
const removed = (ws: string, user: string, at: string) =>
  emit('workspace.member_removed', ws, { user_id: user }, at);
const roleChanged = (ws: string, user: string, role: string, at: string) =>
  emit('workspace.member_role_changed', ws, { user_id: user, role }, at);
const added = (ws: string, user: string, role: string, at: string) =>
  emit('workspace.member_added', ws, { user_id: user, role }, at);

/** A session issued ten minutes ago, i.e. before the events of these tests (a minute ago). */
const staleSession = (user: string, ws: string, role: 'admin' | 'member' = 'admin') =>
  id.jwt(user, [{ id: ws, role }], { issuedAt: nowSec() - 600 });
const freshSession = (user: string, ws: string, role: 'admin' | 'member' = 'admin') =>
  id.jwt(user, [{ id: ws, role }], { issuedAt: nowSec() + 1 });

const create = (token: string, scopes: string[]) =>
  invoke(createToken, routes.createToken, { token, body: { name: 'after', scopes } });

describe('a session issued before the user was removed from the workspace', () => {
  it('cannot create a token (admin scopes included): 403, and no token is made', async () => {
    const session = await staleSession('gone1', 'wsS');
    expect((await create(session, ['read:tasks'])).status).toBe(201); // still a member
    await removed('wsS', 'gone1', ago(60));

    for (const scopes of [['read:tasks'], ['admin:tokens', 'admin:webhooks']]) {
      const res = await create(session, scopes);
      expect(res.status, scopes.join()).toBe(403);
      expect(res.headers['content-type']).toBe('application/problem+json');
      expect(res.body.detail).toMatch(/no longer a member of workspace 'wsS'/);
      expect(res.body.detail).toMatch(/sign in again/i);
      expect(res.body.token).toBeUndefined();
    }
    const fresh = await freshSession('gone1', 'wsS');
    const listed = await invoke(listTokens, routes.listTokens, { token: fresh, query: { status: 'active' } });
    expect(listed.body.data).toEqual([]);
  });

  it('is refused on every route that accepts a session (one check in authentication)', async () => {
    const session = await staleSession('gone2', 'wsS');
    await removed('wsS', 'gone2', ago(60));
    const sessionRoutes = routeList.filter((r) => r.auth !== 'public');
    expect(sessionRoutes.length).toBeGreaterThan(30);
    for (const r of sessionRoutes) {
      const file = pathToFileURL(resolve('functions', `${r.handler}.ts`)).href;
      const { handler } = (await import(/* @vite-ignore */ file)) as { handler: unknown };
      const res = await invoke(handler, r as RouteDef, {
        token: session,
        params: { id: 'x', delivery_id: 'y' },
        ...(['POST', 'PATCH', 'PUT'].includes(r.method) ? { body: {} } : {}),
      });
      expect(res.status, `${r.method} ${r.path}`).toBe(403);
    }
  });

  it('still works in the user’s other workspaces, and so does a session issued after the removal', async () => {
    const session = await id.jwt(
      'gone3',
      [
        { id: 'wsS', role: 'admin' },
        { id: 'wsOther', role: 'admin' },
      ],
      { issuedAt: nowSec() - 600 },
    );
    await removed('wsS', 'gone3', ago(60));
    const elsewhere = await invoke(createToken, routes.createToken, {
      token: session,
      headers: { 'x-workspace-id': 'wsOther' },
      body: { name: 'n', scopes: ['admin:tasks'] },
    });
    expect(elsewhere.status).toBe(201);
    // Re-added by PronaFlow, the user signs in again: the new session is newer than the removal.
    expect((await create(await freshSession('gone3', 'wsS'), ['admin:tasks'])).status).toBe(201);
  });

  it('is held to the record even without an iat claim', async () => {
    const session = await id.jwt('gone4', [{ id: 'wsS', role: 'admin' }], { issuedAt: null });
    expect((await create(session, ['read:tasks'])).status).toBe(201); // no record yet
    await removed('wsS', 'gone4', ago(60));
    expect((await create(session, ['read:tasks'])).status).toBe(403);
  });
});

describe('a session issued before the user was demoted', () => {
  it('acts with the recorded role: no admin scopes, no re-activation, no rotation of admin tokens', async () => {
    const session = await staleSession('demoted', 'wsS', 'admin');
    const adminToken = await create(session, ['admin:webhooks']);
    expect(adminToken.status).toBe(201);
    await roleChanged('wsS', 'demoted', 'member', ago(60)); // deactivates the admin-scoped token

    const grant = await create(session, ['admin:tasks']);
    expect(grant.status).toBe(403);
    expect(grant.body.forbidden_scopes).toEqual(['admin:tasks']);
    const on = await invoke(updateToken, routes.updateToken, {
      token: session,
      params: { id: adminToken.body.id },
      body: { is_active: true },
    });
    expect(on.status).toBe(403);
    expect(on.body.forbidden_scopes).toEqual(['admin:webhooks']);
    const rotated = await invoke(rotateToken, routes.rotateToken, {
      token: session,
      params: { id: adminToken.body.id },
    });
    expect(rotated.status).toBe(403);

    // What the member role allows still works, and the token records the member role.
    const plain = await create(session, ['write:tasks']);
    expect(plain.status).toBe(201);
    const res = await invoke(getRateLimit, routes.getRateLimit, { token: plain.body.token });
    expect(res.status).toBe(200);
  });

  it('trusts a session issued after the demotion (the identity service knows better)', async () => {
    await roleChanged('wsS', 'repromoted', 'member', ago(60));
    expect((await create(await staleSession('repromoted', 'wsS'), ['admin:tasks'])).status).toBe(403);
    expect((await create(await freshSession('repromoted', 'wsS'), ['admin:tasks'])).status).toBe(201);
  });

  it('never raises a session above its own claim (a promotion does not upgrade an old member session)', async () => {
    await roleChanged('wsS', 'promoted', 'admin', ago(60));
    const old = await staleSession('promoted', 'wsS', 'member');
    expect((await create(old, ['admin:tasks'])).status).toBe(403);
  });
});

describe('re-adding and event order', () => {
  it('lets a re-added member act with a session newer than the removal; a late older removal changes nothing', async () => {
    await removed('wsS', 'back', ago(120));
    const stale = await staleSession('back', 'wsS');
    expect((await create(stale, ['read:tasks'])).status).toBe(403);
    await added('wsS', 'back', 'member', ago(60));
    const fresh = await freshSession('back', 'wsS', 'member');
    const made = await create(fresh, ['write:tasks']);
    expect(made.status).toBe(201);
    // The removal event is redelivered late: older than the member_added, it is ignored.
    await removed('wsS', 'back', ago(120));
    expect((await invoke(getRateLimit, routes.getRateLimit, { token: made.body.token })).status).toBe(200);
    // A session from before the removal is held to the re-added role, never above its own claim.
    expect((await create(stale, ['admin:tasks'])).status).toBe(403);
    expect((await create(stale, ['read:tasks'])).status).toBe(201);
  });

  it.each([
    ['removal first', ['removed', 'role'] as const],
    ['role change first', ['role', 'removed'] as const],
  ])(
    'keeps a removal and a role change of the same instant as a removal, whichever arrives last (%s)',
    async (_name, order) => {
      const ws = `wsTie${order[0]}`;
      const at = ago(60);
      for (const kind of order) {
        if (kind === 'removed') await removed(ws, 'tie', at);
        else await roleChanged(ws, 'tie', 'member', at);
      }
      const stale = await staleSession('tie', ws);
      expect((await create(stale, ['read:tasks'])).status).toBe(403);
      // A replay of the role change changes nothing either.
      await roleChanged(ws, 'tie', 'member', at);
      expect((await create(stale, ['read:tasks'])).status).toBe(403);
    },
  );
});

describe('other session-authorised writes', () => {
  it('refuses a removed member’s stale session on webhook creation', async () => {
    const session = await staleSession('whgone', 'wsS');
    await removed('wsS', 'whgone', ago(60));
    const res = await invoke(createWebhook, routes.createWebhook, {
      token: session,
      body: { url: 'https://hooks.example.com/in', events: ['task.created'] },
    });
    expect(res.status).toBe(403);
    expect(res.body.detail).toMatch(/no longer a member/);
  });
});

describe('a membership change between authentication and the token write', () => {
  // The caller as authentication saw it: no membership record yet (membershipAsOf null).
  const sessionCaller = (userId: string) => ({
    kind: 'session' as const,
    userId,
    workspaceId: 'wsS',
    role: 'admin' as const,
    workspaces: [{ id: 'wsS', role: 'admin' as const }],
    membershipAsOf: null,
  });

  it('fails a creation with 409 rather than minting a token the new record forbids', async () => {
    const caller = sessionCaller('racer1');
    await removed('wsS', 'racer1', ago(1));
    await expect(service.createToken(caller, { name: 'n', scopes: ['read:tasks'] })).rejects.toMatchObject({
      status: 409,
    });
    const fresh = await freshSession('racer1', 'wsS');
    const listed = await invoke(listTokens, routes.listTokens, { token: fresh });
    expect(listed.body.data).toEqual([]);
  });

  it('fails a rotation and a re-activation with 409 too', async () => {
    const caller = sessionCaller('racer2');
    const seeded = await seedToken({ userId: 'racer2', workspaceId: 'wsS', scopes: ['read:tasks'] });
    await service.updateToken(caller, seeded.id, { is_active: false });
    await roleChanged('wsS', 'racer2', 'member', ago(1));
    await expect(service.updateToken(caller, seeded.id, { is_active: true })).rejects.toMatchObject({
      status: 409,
    });
    await expect(service.rotateToken(caller, seeded.id)).rejects.toMatchObject({ status: 409 });
  });
});

describe('cost', () => {
  it('reads the plan and the membership record in one round trip: a session request is still 2', async () => {
    const jwt = await id.jwt('cost', [{ id: 'wsS', role: 'member' }]);
    const counter = countDynamoCalls();
    try {
      expect((await invoke(getRateLimit, routes.getRateLimit, { token: jwt })).status).toBe(200);
      expect(counter.calls).toEqual(['BatchGetItemCommand', 'UpdateItemCommand']);
    } finally {
      counter.stop();
    }
  });
});
