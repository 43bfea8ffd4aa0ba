/**
 * The consents part of GET /status/workspace: records by state (granted, revoked, expired),
 * moved by real transitions (grant, revoke through the handlers; the expiry worker's sweep).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { handler as grantH } from '#functions/consents/grant-consent.ts';
import { handler as revokeH } from '#functions/consents/revoke-consent.ts';
import { routes } from '#functions/routes.ts';
import { handler as getWorkspaceStatus } from '#functions/system/get-workspace-status.ts';
import { sweepExpiredConsents } from '#shared/consents/jobs.ts';
import { setEnv, useTestSqs, useTestTable } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { useMemorySecrets } from '#test/helpers/secrets.ts';
import { type TestIdentity, testIdentity } from '#test/helpers/session.ts';

useTestTable();
useTestSqs();
let id: TestIdentity;
let alice: string;
let bob: string;
let operator: string;
beforeAll(async () => {
  useMemorySecrets();
  setEnv({ RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '100000' });
  id = await testIdentity();
  alice = await id.jwt('alice', [{ id: 'ws1', role: 'admin' }]);
  bob = await id.jwt('bob', [{ id: 'ws1', role: 'member' }]);
  operator = await id.jwt('olga', [{ id: 'ops', role: 'member' }], { operator: true });
});

const status = async (token = alice) => {
  const res = await invoke(getWorkspaceStatus, routes.workspaceStatus, { token });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
};
const grant = async (token: string, body: Record<string, unknown>) => {
  const res = await invoke(grantH, routes.grantConsent, {
    token,
    body: { consent_type: 'THIRD_PARTY', resource_type: 'slack_integration', ...body },
  });
  expect([200, 201], JSON.stringify(res.body)).toContain(res.status);
  return res.body as { id: string };
};

describe('GET /status/workspace: consents', () => {
  it('counts consent records granted, revoked and expired as they change', async () => {
    const a = await grant(alice, { resource_id: 'a' });
    await grant(alice, { resource_id: 'a' }); // the live one again: no new record
    await grant(bob, { resource_id: 'b' });
    const c = await grant(bob, {
      resource_id: 'c',
      expires_at: new Date(Date.now() + 3_600_000).toISOString(),
    });
    expect((await status()).features.consents).toEqual({ records: { GRANTED: 3 } });

    for (let i = 0; i < 2; i++) {
      const res = await invoke(revokeH, routes.revokeConsent, { token: alice, params: { id: a.id } });
      expect(res.status).toBe(200);
    }
    expect((await status()).features.consents).toEqual({ records: { GRANTED: 2, REVOKED: 1 } });

    // The expiry worker, two hours on: c lapses (once, however often it runs).
    const later = new Date(Date.now() + 2 * 3_600_000);
    expect((await sweepExpiredConsents({ now: later })).expired).toBe(1);
    expect((await sweepExpiredConsents({ now: later })).expired).toBe(0);
    expect((await status()).features.consents).toEqual({ records: { GRANTED: 1, REVOKED: 1, EXPIRED: 1 } });
    expect(c.id).toMatch(/^cns_/);
    expect((await status(operator)).service.features.consents).toEqual({
      records: { GRANTED: 1, REVOKED: 1, EXPIRED: 1 },
    });
  });
});
