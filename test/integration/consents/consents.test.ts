import { DeleteCommand, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { handler as exportH } from '#functions/consents/export-consent-data.ts';
import { handler as getH } from '#functions/consents/get-consent.ts';
import { handler as statusH } from '#functions/consents/get-consent-status.ts';
import { handler as grantH } from '#functions/consents/grant-consent.ts';
import { handler as auditH } from '#functions/consents/list-consent-audit.ts';
import { handler as listH } from '#functions/consents/list-consents.ts';
import { handler as revokeH } from '#functions/consents/revoke-consent.ts';
import { handler as verifyH } from '#functions/consents/verify-consent-audit.ts';
import { routes } from '#functions/routes.ts';
import { handler as createTokenH } from '#functions/tokens/create-token.ts';
import { auditKeys } from '#shared/audit/keys.ts';
import { erasePersonalData, subjectOf } from '#shared/audit/log.ts';
import { sweepExpiredConsents } from '#shared/consents/jobs.ts';
import { db, tableName } from '#shared/db/client.ts';
import { keys } from '#shared/db/keys.ts';
import { insertConnection } from '#shared/oauth/connections-repo.ts';
import { MissingGrantError, runWithGrants } from '#shared/runtime-grants.ts';
import { setEnv, useTestTable } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { useMemorySecrets } from '#test/helpers/secrets.ts';
import { type TestIdentity, testIdentity } from '#test/helpers/session.ts';

useTestTable();
let id: TestIdentity;
let alice: string;
let bob: string;
let admin: string;
beforeAll(async () => {
  setEnv({ RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '100000', CONSENT_POLICY_VERSION: '1' });
  useMemorySecrets();
  id = await testIdentity();
  alice = await id.jwt('alice', [{ id: 'ws1', role: 'member' }]);
  bob = await id.jwt('bob', [{ id: 'ws1', role: 'member' }]);
  admin = await id.jwt('ada', [{ id: 'ws1', role: 'admin' }]);
});

const spec = {
  consent_type: 'THIRD_PARTY',
  resource_type: 'slack_integration',
  resource_id: 'slack_conn_123',
  description: 'Grant access to sync tasks to Slack',
};
const grant = (token: string, body: unknown, headers?: Record<string, string>) =>
  invoke(grantH, routes.grantConsent, { token, body, headers });
const trail = async (token: string) =>
  (await invoke(auditH, routes.consentAudit, { token, query: { limit: '100' } })).body;
const verify = async (token: string, scope?: string) =>
  (await invoke(verifyH, routes.verifyConsentAudit, { token, query: scope ? { scope } : {} })).body;

describe('consents', () => {
  it("records the product spec's request with a receipt, and returns the live record when granted again", async () => {
    const res = await grant(alice, spec, { 'user-agent': 'curl/8', 'x-consent-collection-method': 'ui' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id: expect.stringMatching(/^cns_/),
      user_id: 'alice',
      workspace_id: 'ws1',
      status: 'GRANTED',
      policy_version: 1,
      collection_method: 'ui',
      user_agent: 'curl/8',
      credential: { kind: 'session', token_id: null },
      expires_at: null,
      receipt: {
        receipt_id: expect.stringMatching(/^rcpt_/),
        jurisdiction: 'EU',
        pii_principal_id: 'alice',
        policy_version: 1,
        state: 'GRANTED',
        services: [
          {
            service: 'slack_integration:slack_conn_123',
            purposes: [
              expect.objectContaining({ consent_type: 'THIRD_PARTY', third_party_disclosure: true }),
            ],
          },
        ],
        audit: { seq: 1, hash: expect.stringMatching(/^[a-f0-9]{64}$/) },
      },
    });
    const again = await grant(alice, spec);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(res.body.id);
    expect((await trail(alice)).data).toHaveLength(1);
  });

  it('answers 400 for an unknown type and 404 for another user’s consent', async () => {
    expect((await grant(alice, { ...spec, consent_type: 'EVERYTHING' })).status).toBe(400);
    expect((await grant(alice, spec, { 'x-consent-collection-method': 'fax' })).status).toBe(400);
    const mine = (await invoke(listH, routes.listConsents, { token: alice })).body.data[0];
    expect((await invoke(getH, routes.getConsent, { token: bob, params: { id: mine.id } })).status).toBe(404);
    expect(
      (await invoke(revokeH, routes.revokeConsent, { token: bob, params: { id: mine.id } })).status,
    ).toBe(404);
  });

  it('revokes in one call (the record stays, REVOKED), and a second revoke changes nothing', async () => {
    const c = (await grant(alice, { ...spec, consent_type: 'ANALYTICS', resource_id: 'x' })).body;
    const first = await invoke(revokeH, routes.revokeConsent, { token: alice, params: { id: c.id } });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      status: 'REVOKED',
      revoked_at: expect.any(String),
      revocation_receipt: { state: 'REVOKED' },
    });
    const entries = (await trail(alice)).data.length;
    const second = await invoke(revokeH, routes.revokeConsent, { token: alice, params: { id: c.id } });
    expect(second.status).toBe(200);
    expect(second.body.revocation_receipt.receipt_id).toBe(first.body.revocation_receipt.receipt_id);
    expect((await trail(alice)).data.length).toBe(entries);
    // Granting again after a withdrawal is a new record.
    const renewed = await grant(alice, { ...spec, consent_type: 'ANALYTICS', resource_id: 'x' });
    expect(renewed.status).toBe(201);
    expect(renewed.body.id).not.toBe(c.id);
  });

  it('expires a consent at its end date, and the sweep records the expiry in the trail', async () => {
    const soon = new Date(Date.now() + 1500).toISOString();
    const c = (await grant(bob, { ...spec, consent_type: 'MARKETING', expires_at: soon })).body;
    expect(c.status).toBe('GRANTED');
    await new Promise((r) => setTimeout(r, 1600));
    expect((await invoke(getH, routes.getConsent, { token: bob, params: { id: c.id } })).body.status).toBe(
      'EXPIRED',
    );
    expect((await sweepExpiredConsents()).expired).toBeGreaterThanOrEqual(1);
    expect((await sweepExpiredConsents()).expired).toBe(0);
    const actions = (await trail(bob)).data.map((e: { action: string }) => e.action);
    expect(actions).toEqual(['consent.expired', 'consent.granted']);
    const expired = (await invoke(getH, routes.getConsent, { token: bob, params: { id: c.id } })).body;
    expect(expired.expired_at).toEqual(expect.any(String));
  });

  it('reports MISSING for what needs consent, and OUTDATED once the policy moves on', async () => {
    const carol = await id.jwt('carol', [{ id: 'ws1', role: 'member' }]);
    const at = new Date().toISOString();
    await insertConnection({
      ...keys.oauthConnection('ws1', 'carol', 'conn_c1'),
      entity: 'OAuthConnection',
      id: 'conn_c1',
      workspace_id: 'ws1',
      user_id: 'carol',
      app_id: 'slack',
      source: 'direct',
      status: 'ACTIVE',
      scopes: ['chat:write'],
      token_type: 'bearer',
      access_token_sealed: 'sealed',
      sealed_key_id: 'k1',
      token_expires_at: new Date(Date.now() + 3600_000).toISOString(),
      refresh_attempts: 0,
      version: 1,
      created_at: at,
      updated_at: at,
    });
    const before = (await invoke(statusH, routes.consentStatus, { token: carol })).body;
    expect(before.compliant).toBe(false);
    expect(before.required).toEqual([
      expect.objectContaining({ consent_type: 'THIRD_PARTY', resource_id: 'conn_c1', status: 'MISSING' }),
    ]);
    expect(before.types.find((t: { consent_type: string }) => t.consent_type === 'THIRD_PARTY').status).toBe(
      'MISSING',
    );
    await grant(carol, {
      consent_type: 'THIRD_PARTY',
      resource_type: 'oauth_connection',
      resource_id: 'conn_c1',
    });
    const after = (await invoke(statusH, routes.consentStatus, { token: carol })).body;
    expect(after).toMatchObject({ compliant: true, reasons: [] });

    setEnv({ CONSENT_POLICY_VERSION: '2' });
    try {
      const outdated = (await invoke(statusH, routes.consentStatus, { token: carol })).body;
      expect(outdated.compliant).toBe(false);
      expect(
        outdated.types.find((t: { consent_type: string }) => t.consent_type === 'THIRD_PARTY').status,
      ).toBe('OUTDATED');
      const renewed = await grant(carol, {
        consent_type: 'THIRD_PARTY',
        resource_type: 'oauth_connection',
        resource_id: 'conn_c1',
      });
      expect(renewed.status).toBe(201);
      expect(renewed.body.policy_version).toBe(2);
      expect((await invoke(statusH, routes.consentStatus, { token: carol })).body.required[0].status).toBe(
        'GRANTED',
      );
    } finally {
      setEnv({ CONSENT_POLICY_VERSION: '1' });
    }
  });

  it('keeps workspace views for admins', async () => {
    expect(
      (await invoke(listH, routes.listConsents, { token: alice, query: { scope: 'workspace' } })).status,
    ).toBe(403);
    const all = await invoke(listH, routes.listConsents, {
      token: admin,
      query: { scope: 'workspace', limit: '100' },
    });
    expect(new Set(all.body.data.map((c: { user_id: string }) => c.user_id))).toEqual(
      new Set(['alice', 'bob', 'carol']),
    );
    const verified = await verify(admin, 'workspace');
    expect(verified.valid).toBe(true);
    expect(verified.trails.length).toBeGreaterThanOrEqual(3);
  });

  it('accepts API tokens with the consent scopes, and records which token acted', async () => {
    const token = (
      await invoke(createTokenH, routes.createToken, {
        token: alice,
        body: { name: 'c', scopes: ['write:consents'] },
      })
    ).body.token as string;
    const res = await grant(token, { ...spec, consent_type: 'DATA_PROCESSING' });
    expect(res.status).toBe(201);
    expect(res.body.credential).toEqual({ kind: 'token', token_id: expect.stringMatching(/^tok_/) });
  });
});

describe('the audit trail', () => {
  it('verifies an intact chain, and finds an entry changed behind the service’s back', async () => {
    const ok = await verify(alice);
    expect(ok).toMatchObject({ valid: true, head: { seq: expect.any(Number) } });
    expect(ok.entries).toBeGreaterThanOrEqual(4);
    const subject = await subjectOf('alice');
    const key = auditKeys.entry('ws1', subject, 2);
    const original = (await db().send(new GetCommand({ TableName: tableName(), Key: key }))).Item!;
    // The test plays an attacker with the table's own credentials (no function may do this).
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: key,
        UpdateExpression: 'SET #a = :a',
        ExpressionAttributeNames: { '#a': 'action' },
        ExpressionAttributeValues: { ':a': 'consent.tampered' },
      }),
    );
    const tampered = await verify(alice);
    expect(tampered).toMatchObject({ valid: false, broken: { seq: 2 } });
    expect(tampered.broken.reason).toContain('changed');
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: key,
        UpdateExpression: 'SET #a = :a',
        ExpressionAttributeNames: { '#a': 'action' },
        ExpressionAttributeValues: { ':a': original.action },
      }),
    );
    expect((await verify(alice)).valid).toBe(true);
    // Removing an entry breaks the chain too.
    const entry3 = auditKeys.entry('ws1', subject, 3);
    const kept = (await db().send(new GetCommand({ TableName: tableName(), Key: entry3 }))).Item!;
    await db().send(new DeleteCommand({ TableName: tableName(), Key: entry3 }));
    expect(await verify(alice)).toMatchObject({ valid: false, broken: { seq: 4 } });
    const { PutCommand } = await import('@aws-sdk/lib-dynamodb');
    await db().send(new PutCommand({ TableName: tableName(), Item: kept }));
  });

  it('refuses to change or remove an entry inside a function, whatever its table grants', async () => {
    const key = auditKeys.entry('ws1', await subjectOf('alice'), 1);
    const update = () =>
      db().send(
        new UpdateCommand({
          TableName: tableName(),
          Key: key,
          UpdateExpression: 'SET x = :x',
          ExpressionAttributeValues: { ':x': 1 },
        }),
      );
    await expect(runWithGrants(['table:read', 'table:write'], update)).rejects.toBeInstanceOf(
      MissingGrantError,
    );
    await expect(
      runWithGrants(['table:read', 'table:write'], () =>
        db().send(new DeleteCommand({ TableName: tableName(), Key: key })),
      ),
    ).rejects.toBeInstanceOf(MissingGrantError);
  });

  it('shows the personal data of entries until the subject is erased; the chain still verifies after', async () => {
    const before = (await trail(bob)).data;
    expect(before[0].source).toMatchObject({ user_id: 'bob' });
    expect(before.every((e: { subject: string }) => !e.subject.includes('bob'))).toBe(true);
    expect(await erasePersonalData('bob')).toBeGreaterThan(0);
    const after = (await trail(bob)).data;
    expect(after).toHaveLength(before.length);
    expect(after.every((e: { source: unknown }) => e.source === null)).toBe(true);
    expect((await verify(bob)).valid).toBe(true);
    const left = await db().send(
      new QueryCommand({
        TableName: tableName(),
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': auditKeys.personalPartition(await subjectOf('bob')) },
      }),
    );
    expect(left.Items).toEqual([]);
  });

  it('exports what the service holds about the caller as one document', async () => {
    const res = await invoke(exportH, routes.exportConsentData, { token: alice });
    expect(res.status).toBe(200);
    expect(res.body.subject).toEqual({ user_id: 'alice', workspace_id: 'ws1' });
    expect(res.body.consents.length).toBeGreaterThanOrEqual(3);
    expect(res.body.audit.length).toBe((await trail(alice)).data.length);
    expect(Object.keys(res.body.data).sort()).toEqual([
      'api_tokens',
      'oauth_connections',
      'plugin_installations',
      'webhook_endpoints',
    ]);
    expect(res.body.data.api_tokens).toHaveLength(1);
    expect(JSON.stringify(res.body)).not.toMatch(/pfi_[0-9A-Za-z]{38}/);
  });
});
