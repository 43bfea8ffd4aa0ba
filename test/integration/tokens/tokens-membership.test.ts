import { beforeAll, describe, expect, it } from 'vitest';
import { routes } from '#functions/routes.ts';
import { handler as createToken } from '#functions/tokens/create-token.ts';
import { handler as getRateLimit } from '#functions/tokens/get-rate-limit.ts';
import { handler as getToken } from '#functions/tokens/get-token.ts';
import { handler as updateToken } from '#functions/tokens/update-token.ts';
import { consumers } from '#functions/workers/ingest-events.ts';
import { ingestMessage } from '#shared/events/ingest.ts';
import { MAX_ACTIVE_TOKENS } from '#shared/tokens/token-quota.ts';
import { findAuthRecord, hashToken } from '#shared/tokens/token-store.ts';
import { useTestTable } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { type TestIdentity, testIdentity } from '#test/helpers/session.ts';
import { seedToken } from '#test/helpers/tokens.ts';

useTestTable();
let id: TestIdentity;
beforeAll(async () => {
  id = await testIdentity();
});

let n = 0;
const emit = (type: string, workspaceId: string, data: unknown, occurredAt: string, eventId?: string) =>
  ingestMessage(
    `m${++n}`,
    JSON.stringify({
      id: eventId ?? `evt_${n}`,
      type,
      workspace_id: workspaceId,
      occurred_at: occurredAt,
      data,
    }),
    consumers,
  );
const removed = (ws: string, user: string, at: string, eventId?: string) =>
  emit('workspace.member_removed', ws, { user_id: user }, at, eventId);
const roleChanged = (ws: string, user: string, role: string, at: string) =>
  emit('workspace.member_role_changed', ws, { user_id: user, role }, at);

const works = async (value: string) =>
  (await invoke(getRateLimit, routes.getRateLimit, { token: value })).status;
const statusOf = async (user: string, ws: string, tokenId: string) => {
  const session = await id.jwt(user, [{ id: ws, role: 'admin' }]);
  return (await invoke(getToken, routes.getToken, { token: session, params: { id: tokenId } })).body;
};

describe('workspace.member_removed', () => {
  it('revokes every token of the user in that workspace, and only those', async () => {
    const a = await seedToken({ userId: 'gone', workspaceId: 'wsR' });
    const b = await seedToken({ userId: 'gone', workspaceId: 'wsR', scopes: ['admin:tasks'] });
    const otherUser = await seedToken({ userId: 'stays', workspaceId: 'wsR' });
    const otherWs = await seedToken({ userId: 'gone', workspaceId: 'wsR2' });
    expect(await works(a.value)).toBe(200);

    const out = await removed('wsR', 'gone', '2026-04-01T00:00:00Z');
    expect(out).toEqual({ outcome: 'dispatched', consumers: ['tokens.membership'] });

    for (const t of [a, b]) {
      expect(await works(t.value)).toBe(401);
      expect(await statusOf('gone', 'wsR', t.id)).toMatchObject({ status: 'revoked', is_active: false });
    }
    expect(await works(otherUser.value)).toBe(200);
    expect(await works(otherWs.value)).toBe(200);
  });

  it('frees the quota slots of the revoked tokens', async () => {
    for (let i = 0; i < MAX_ACTIVE_TOKENS; i++) await seedToken({ userId: 'full', workspaceId: 'wsQ' });
    const session = await id.jwt('full', [{ id: 'wsQ', role: 'member' }]);
    const body = { name: 'n', scopes: ['read:tasks'] };
    expect((await invoke(createToken, routes.createToken, { token: session, body })).status).toBe(409);
    await removed('wsQ', 'full', '2026-04-01T00:00:00Z');
    // Back in the workspace later (a new session), the user starts with a free quota.
    expect((await invoke(createToken, routes.createToken, { token: session, body })).status).toBe(201);
  });

  it('is idempotent: a replayed event changes nothing and does not fail', async () => {
    const t = await seedToken({ userId: 'twice', workspaceId: 'wsR' });
    await removed('wsR', 'twice', '2026-04-01T00:00:00Z', 'evt_same');
    const first = await statusOf('twice', 'wsR', t.id);
    const again = await removed('wsR', 'twice', '2026-04-01T00:00:00Z', 'evt_same');
    expect(again).toEqual({ outcome: 'dispatched', consumers: ['tokens.membership'] });
    expect(await statusOf('twice', 'wsR', t.id)).toEqual(first);
  });

  it('also reacts to member.removed, the name the webhook catalog uses', async () => {
    const t = await seedToken({ userId: 'left', workspaceId: 'wsR' });
    const out = await emit(
      'member.removed',
      'wsR',
      { user_id: 'left', removed_by: 'u1' },
      '2026-04-01T00:00:00Z',
    );
    expect(out.outcome === 'dispatched' && out.consumers).toContain('tokens.membership');
    expect(await works(t.value)).toBe(401);
  });

  it('acknowledges an event without a user_id and changes nothing', async () => {
    const t = await seedToken({ userId: 'kept', workspaceId: 'wsR' });
    const out = await emit('workspace.member_removed', 'wsR', { user: 'kept' }, '2026-04-01T00:00:00Z');
    expect(out).toEqual({ outcome: 'dispatched', consumers: ['tokens.membership'] });
    expect(await works(t.value)).toBe(200);
  });
});

describe('workspace.member_role_changed', () => {
  it('deactivates the tokens holding scopes beyond the new role; the others carry the new role', async () => {
    const adminScoped = await seedToken({
      userId: 'demo',
      workspaceId: 'wsD',
      scopes: ['read:tasks', 'admin:webhooks'],
    });
    const plain = await seedToken({ userId: 'demo', workspaceId: 'wsD', scopes: ['write:tasks'] });
    const otherUser = await seedToken({ userId: 'boss', workspaceId: 'wsD', scopes: ['admin:webhooks'] });

    await roleChanged('wsD', 'demo', 'member', '2026-04-01T00:00:00Z');

    expect(await works(adminScoped.value)).toBe(401);
    expect(await statusOf('demo', 'wsD', adminScoped.id)).toMatchObject({
      status: 'inactive',
      is_active: false,
    });
    expect(await works(plain.value)).toBe(200);
    expect(await findAuthRecord(hashToken(plain.value))).toMatchObject({ role: 'member', is_active: true });
    expect(await works(otherUser.value)).toBe(200);

    // The deactivated token cannot be switched back on by the demoted user.
    const member = await id.jwt('demo', [{ id: 'wsD', role: 'member' }]);
    const on = await invoke(updateToken, routes.updateToken, {
      token: member,
      params: { id: adminScoped.id },
      body: { is_active: true },
    });
    expect(on.status).toBe(403);
  });

  it('leaves tokens active on a promotion and records the admin role', async () => {
    const t = await seedToken({
      userId: 'promo',
      workspaceId: 'wsD',
      role: 'member',
      scopes: ['read:tasks'],
    });
    await roleChanged('wsD', 'promo', 'admin', '2026-04-01T00:00:00Z');
    expect(await findAuthRecord(hashToken(t.value))).toMatchObject({ role: 'admin', is_active: true });
  });

  it('ignores an event older than the last one applied for the user', async () => {
    const t = await seedToken({ userId: 'late', workspaceId: 'wsD', scopes: ['admin:tasks'] });
    await roleChanged('wsD', 'late', 'admin', '2026-04-02T00:00:00Z');
    await roleChanged('wsD', 'late', 'member', '2026-04-01T00:00:00Z'); // arrives late
    expect(await works(t.value)).toBe(200);
    await removed('wsD', 'late', '2026-04-03T00:00:00Z');
    await roleChanged('wsD', 'late', 'admin', '2026-04-02T12:00:00Z'); // older than the removal
    expect(await statusOf('late', 'wsD', t.id)).toMatchObject({ status: 'revoked' });
  });

  it('records member.added (the webhook catalog name) like a role change; no role means member', async () => {
    const t = await seedToken({ userId: 'again', workspaceId: 'wsD', scopes: ['admin:tasks'] });
    const out = await emit(
      'member.added',
      'wsD',
      { user_id: 'again', added_by: 'u1' },
      '2026-04-01T00:00:00Z',
    );
    expect(out.outcome === 'dispatched' && out.consumers).toContain('tokens.membership');
    expect(await works(t.value)).toBe(401); // admin scopes beyond the member role: deactivated
  });

  it('acknowledges an unknown role and changes nothing', async () => {
    const t = await seedToken({ userId: 'odd', workspaceId: 'wsD', scopes: ['admin:tasks'] });
    const out = await roleChanged('wsD', 'odd', 'owner', '2026-04-01T00:00:00Z');
    expect(out).toEqual({ outcome: 'dispatched', consumers: ['tokens.membership'] });
    expect(await works(t.value)).toBe(200);
  });
});
