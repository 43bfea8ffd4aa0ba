import { beforeAll, describe, expect, it } from 'vitest';
import { authenticate } from '#shared/auth/authenticate.ts';
import { holdToStanding, issuedAfter } from '#shared/auth/standing.ts';
import type { Caller } from '#shared/http/caller.ts';
import { route } from '#shared/http/route.ts';
import { httpEvent } from '#test/helpers/http-event.ts';
import { type TestIdentity, testIdentity } from '#test/helpers/session.ts';

const changedAt = '2026-06-01T12:00:00.500Z';
const at = Date.parse(changedAt) / 1000;
const session = (role: Caller['role'], issuedAt?: number): Caller => ({
  kind: 'session',
  userId: 'u1',
  workspaceId: 'ws1',
  role,
  workspaces: [
    { id: 'ws1', role },
    { id: 'ws2', role: 'admin' },
  ],
  ...(issuedAt === undefined ? {} : { issuedAt }),
});

describe('holdToStanding', () => {
  it('takes a session at its word when nothing is recorded, and says so for the token writes', () => {
    expect(holdToStanding(session('admin', at), undefined)).toMatchObject({
      role: 'admin',
      membershipAsOf: null,
    });
  });

  it('takes a session issued after the recorded change at its word (a re-added or re-promoted user)', () => {
    const later = Math.floor(at) + 1;
    expect(
      holdToStanding(session('admin', later), { state: 'removed', changedAt, version: `${changedAt}#v` }),
    ).toMatchObject({
      role: 'admin',
      membershipAsOf: `${changedAt}#v`,
    });
    expect(
      holdToStanding(session('admin', later), { state: 'member', changedAt, version: `${changedAt}#v` }).role,
    ).toBe('admin');
  });

  it('refuses an older session of a removed user with 403 naming the workspace', () => {
    expect(() =>
      holdToStanding(session('admin', at - 3600), { state: 'removed', changedAt, version: `${changedAt}#v` }),
    ).toThrow(
      expect.objectContaining({
        status: 403,
        message: expect.stringMatching(/no longer a member of workspace 'ws1'/),
        extra: { workspace_id: 'ws1', reason: 'membership_ended' },
      }),
    );
  });

  it('gives an older session of a demoted user the recorded role, in that workspace only', () => {
    const held = holdToStanding(session('admin', at - 3600), {
      state: 'member',
      changedAt,
      version: `${changedAt}#v`,
    });
    expect(held).toMatchObject({ role: 'member', membershipAsOf: `${changedAt}#v` });
    expect(held.workspaces).toEqual([
      { id: 'ws1', role: 'member' },
      { id: 'ws2', role: 'admin' },
    ]);
  });

  it('never raises an older session above its own claim', () => {
    expect(
      holdToStanding(session('member', at - 3600), { state: 'admin', changedAt, version: `${changedAt}#v` })
        .role,
    ).toBe('member');
  });

  it('treats a session without iat, or of the same second as the change, as older', () => {
    expect(issuedAfter(undefined, changedAt)).toBe(false);
    expect(issuedAfter(Math.floor(at), changedAt)).toBe(false);
    expect(issuedAfter(Math.floor(at) + 1, changedAt)).toBe(true);
    expect(() =>
      holdToStanding(session('admin'), { state: 'removed', changedAt, version: `${changedAt}#v` }),
    ).toThrow(expect.objectContaining({ status: 403 }));
  });
});

describe('authenticate() with a session', () => {
  const anyRoute = route({
    id: 'probe',
    method: 'GET',
    path: '/probe',
    handler: 'test/probe',
    auth: 'user',
    scopes: [],
    summary: 'probe',
    tag: 'Test',
    responses: {},
  });
  let id: TestIdentity;
  beforeAll(async () => {
    id = await testIdentity();
  });
  const token = async () => {
    throw new Error('not a token test');
  };

  it('fails closed (503) when the membership record cannot be read', async () => {
    const jwt = await id.jwt('u1', 'ws1');
    const event = httpEvent(anyRoute, { token: jwt });
    const sessionContext = async () => {
      throw Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' });
    };
    await expect(
      authenticate(event, anyRoute, { tokenPrefix: 'pfi_', token, sessionContext }),
    ).rejects.toMatchObject({
      status: 503,
    });
  });

  it('takes the plan from the same read, so the rate limiter need not read it again', async () => {
    const jwt = await id.jwt('u1', 'ws1');
    const caller = await authenticate(httpEvent(anyRoute, { token: jwt }), anyRoute, {
      tokenPrefix: 'pfi_',
      token,
      sessionContext: async () => ({ plan: 'pro' }),
    });
    expect(caller).toMatchObject({ userId: 'u1', plan: 'pro', membershipAsOf: null });
  });
});
