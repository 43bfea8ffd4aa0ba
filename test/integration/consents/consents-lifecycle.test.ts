import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { auditKeys } from '#shared/audit/keys.ts';
import { listTrail, subjectOf, verifyTrail } from '#shared/audit/log.ts';
import { erasedUser } from '#shared/consents/lifecycle.ts';
import { grantConsent, revokeConsent } from '#shared/consents/service.ts';
import { db, tableName } from '#shared/db/client.ts';
import type { Caller } from '#shared/http/caller.ts';
import { setEnv, useTestSqs, useTestTable } from '#test/helpers/env.ts';
import { emitEvent, sweepCascade } from '#test/helpers/lifecycle.ts';
import { useMemorySecrets } from '#test/helpers/secrets.ts';

useTestTable();
useTestSqs();
beforeAll(() => {
  setEnv({ CONSENT_POLICY_VERSION: '1' });
  useMemorySecrets();
});

const caller = (userId: string, ws: string): Caller => ({
  kind: 'session',
  userId,
  workspaceId: ws,
  role: 'member',
  workspaces: [{ id: ws, role: 'member' }],
});
const collection = { method: 'ui' as const, ip: '203.0.113.7', userAgent: 'Firefox' };

async function items(pk: string, prefix: string) {
  const out = await db().send(
    new QueryCommand({
      TableName: tableName(),
      KeyConditionExpression: prefix ? 'pk = :pk AND begins_with(sk, :p)' : 'pk = :pk',
      ExpressionAttributeValues: { ':pk': pk, ...(prefix ? { ':p': prefix } : {}) },
      ConsistentRead: true,
    }),
  );
  return out.Items ?? [];
}

describe('consents in the lifecycle cascades', () => {
  it('user.deleted: keeps the records pseudonymized, drops the pointers and the trail’s personal data', async () => {
    for (const ws of ['wsA', 'wsB']) {
      for (const r of ['r1', 'r2', 'r3']) {
        const { consent } = await grantConsent(
          caller('gone', ws),
          { consent_type: 'ANALYTICS', resource_type: 'dashboard', resource_id: r },
          collection,
        );
        if (r === 'r3') await revokeConsent(caller('gone', ws), consent.id, collection);
      }
    }
    await grantConsent(
      caller('stays', 'wsA'),
      { consent_type: 'ANALYTICS', resource_type: 'dashboard', resource_id: 'r1' },
      collection,
    );
    expect(await items('WS#wsA', 'CONSENT#gone#')).toHaveLength(3);
    expect(await items('WS#wsA', 'CONSENTLIVE#gone#')).toHaveLength(2);
    const subject = await subjectOf('gone');
    expect((await items(auditKeys.personalPartition(subject), '')).length).toBe(8);

    await emitEvent('user.deleted', 'wsA', { user_id: 'gone' });
    await sweepCascade('user', 'gone');

    const principal = await erasedUser('gone');
    for (const ws of ['wsA', 'wsB']) {
      expect(await items(`WS#${ws}`, 'CONSENT#gone#')).toEqual([]);
      expect(await items(`WS#${ws}`, 'CONSENTLIVE#gone#')).toEqual([]);
      const kept = await items(`WS#${ws}`, `CONSENT#${encodeURIComponent(principal)}#`);
      expect(kept).toHaveLength(3);
      const dump = JSON.stringify(kept);
      expect(dump).not.toContain('"gone"');
      expect(dump).not.toContain('203.0.113.7');
      expect(kept.map((k) => k.state).sort()).toEqual(['GRANTED', 'GRANTED', 'REVOKED']);
      // The trail stays, without personal data, and still verifies.
      expect((await verifyTrail(ws, 'gone')).valid).toBe(true);
      expect((await listTrail(ws, 'gone', { limit: 10 })).data.every((e) => e.source === null)).toBe(true);
    }
    expect(await items(auditKeys.personalPartition(subject), '')).toEqual([]);
    // Others keep theirs.
    expect(await items('WS#wsA', 'CONSENT#stays#')).toHaveLength(1);
    // A redelivered event changes nothing more.
    await emitEvent('user.deleted', 'wsB', { user_id: 'gone' }, 'evt_again');
    await sweepCascade('user', 'gone');
    expect(await items('WS#wsA', `CONSENT#${encodeURIComponent(principal)}#`)).toHaveLength(3);
  });

  it('workspace.deleted: removes the workspace’s records and pointers, and only those', async () => {
    for (const r of ['a', 'b']) {
      await grantConsent(
        caller('w1', 'wsGone'),
        { consent_type: 'MARKETING', resource_type: 'newsletter', resource_id: r },
        collection,
      );
    }
    await grantConsent(
      caller('w1', 'wsKept'),
      { consent_type: 'MARKETING', resource_type: 'newsletter', resource_id: 'a' },
      collection,
    );
    expect(await items('WS#wsGone', 'CONSENT')).toHaveLength(4);
    await emitEvent('workspace.deleted', 'wsGone', {});
    await sweepCascade('workspace', 'wsGone');
    expect(await items('WS#wsGone', 'CONSENT')).toEqual([]);
    expect(await items('WS#wsKept', 'CONSENT')).toHaveLength(2);
  });
});
