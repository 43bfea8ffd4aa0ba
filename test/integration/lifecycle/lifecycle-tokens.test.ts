import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { routes } from '#functions/routes.ts';
import { handler as getRateLimit } from '#functions/tokens/get-rate-limit.ts';
import { db, tableName } from '#shared/db/client.ts';
import { keys } from '#shared/db/keys.ts';
import { findCascade } from '#shared/lifecycle/cascades.ts';
import { applyMembershipChange } from '#shared/tokens/membership.ts';
import { findAuthRecord, hashToken } from '#shared/tokens/token-store.ts';
import { recordUsageBatch } from '#shared/tokens/usage.ts';
import { useTestSqs, useTestTable } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { emitEvent, sweepCascade } from '#test/helpers/lifecycle.ts';
import { useMemorySecrets } from '#test/helpers/secrets.ts';
import { type TestIdentity, testIdentity } from '#test/helpers/session.ts';
import { countDynamoCalls, seedToken } from '#test/helpers/tokens.ts';

useTestTable();
useTestSqs();
let id: TestIdentity;
beforeAll(async () => {
  // The consents step pseudonymizes with the keyring's pseudonym key.
  useMemorySecrets();
  id = await testIdentity();
});

const withToken = async (value: string) =>
  (await invoke(getRateLimit, routes.getRateLimit, { token: value })).status;
const withSession = async (user: string, ws: string) =>
  invoke(getRateLimit, routes.getRateLimit, { token: await id.jwt(user, [{ id: ws, role: 'admin' }]) });

/** Items of a workspace partition under a prefix (strongly consistent). */
async function countUnder(pk: string, prefix = '') {
  const out = await db().send(
    new QueryCommand({
      TableName: tableName(),
      KeyConditionExpression: prefix ? 'pk = :pk AND begins_with(sk, :p)' : 'pk = :pk',
      ExpressionAttributeValues: { ':pk': pk, ...(prefix ? { ':p': prefix } : {}) },
      ConsistentRead: true,
      Select: 'COUNT',
    }),
  );
  return out.Count ?? 0;
}

describe('user.deleted: tokens and sessions', () => {
  it("refuses the user's tokens (every workspace) and sessions right after the mark, before any sweep", async () => {
    const a = await seedToken({ userId: 'gone1', workspaceId: 'wsA' });
    const b = await seedToken({ userId: 'gone1', workspaceId: 'wsB' });
    const other = await seedToken({ userId: 'stays1', workspaceId: 'wsA' });
    expect(await withToken(a.value)).toBe(200);
    expect((await withSession('gone1', 'wsA')).status).toBe(200);

    const out = await emitEvent('user.deleted', 'wsZ', { user_id: 'gone1' });
    expect(out).toEqual({ outcome: 'dispatched', consumers: ['lifecycle'] });

    // Nothing swept yet: the record says so, and access is refused already.
    expect((await findCascade('user', 'gone1'))?.deleted).toBe(0);
    expect(await withToken(a.value)).toBe(401);
    expect(await withToken(b.value)).toBe(401);
    const session = await withSession('gone1', 'wsB');
    expect(session.status).toBe(401);
    expect(session.body).toMatchObject({ detail: 'PronaFlow deleted the user of this session.' });
    // Others are untouched.
    expect(await withToken(other.value)).toBe(200);
    expect((await withSession('stays1', 'wsA')).status).toBe(200);
  });

  it('keeps authentication at its round trips: a token 1 GetItem, a session 1 BatchGetItem (+ the counter)', async () => {
    const t = await seedToken({ userId: 'rt1', workspaceId: 'wsRT' });
    const counter = countDynamoCalls();
    try {
      expect(await withToken(t.value)).toBe(200);
      expect(counter.calls).toEqual(['GetItemCommand', 'UpdateItemCommand']);
      counter.reset();
      expect((await withSession('rt1', 'wsRT')).status).toBe(200);
      expect(counter.calls).toEqual(['BatchGetItemCommand', 'UpdateItemCommand']);
      await emitEvent('user.deleted', 'wsRT', { user_id: 'rt1' });
      counter.reset();
      expect(await withToken(t.value)).toBe(401);
      expect(counter.calls).toEqual(['GetItemCommand']);
      counter.reset();
      expect((await withSession('rt1', 'wsRT')).status).toBe(401);
      expect(counter.calls).toEqual(['BatchGetItemCommand']);
    } finally {
      counter.stop();
    }
  });

  it("sweeps the user's token items in every workspace, and only theirs", async () => {
    const tokens: { id: string; value: string }[] = [];
    for (const ws of ['wsS1', 'wsS2'])
      for (let i = 0; i < 3; i++) tokens.push(await seedToken({ userId: 'sw1', workspaceId: ws }));
    const keep = await seedToken({ userId: 'sw2', workspaceId: 'wsS1' });
    await applyMembershipChange({
      id: 'e-m',
      type: 'workspace.member_role_changed',
      workspace_id: 'wsS2',
      occurred_at: new Date(Date.now() - 60_000).toISOString(),
      data: { user_id: 'sw1', role: 'admin' },
    });
    expect(await countUnder('WS#wsS1', keys.apiTokensOfUser('sw1'))).toBe(3);

    await emitEvent('user.deleted', 'wsS1', { user_id: 'sw1' });
    const pages = await sweepCascade('user', 'sw1');

    for (const ws of ['wsS1', 'wsS2']) {
      expect(await countUnder(`WS#${ws}`, keys.apiTokensOfUser('sw1'))).toBe(0);
      expect(await countUnder(`WS#${ws}`, 'TOKENQUOTA#sw1')).toBe(0);
    }
    expect(await countUnder('WS#wsS2', 'TOKENMEMBER#sw1')).toBe(0);
    for (const t of tokens) expect(await findAuthRecord(hashToken(t.value))).toBeUndefined();
    expect(await withToken(keep.value)).toBe(200);
    const record = await findCascade('user', 'sw1');
    // 6 tokens × (metadata + auth) + 2 quotas + 1 membership record
    expect(record).toMatchObject({ status: 'DONE', deleted: 15, deleted_by: { tokens: 15 } });
    expect(pages.at(-1)).toBe('done');
  });
});

describe('workspace.deleted: tokens and sessions', () => {
  it("refuses the workspace's tokens and sessions right after the mark, others' stay", async () => {
    const a = await seedToken({ userId: 'w1', workspaceId: 'wsDel' });
    const b = await seedToken({ userId: 'w2', workspaceId: 'wsDel' });
    const elsewhere = await seedToken({ userId: 'w1', workspaceId: 'wsKeep' });
    await emitEvent('workspace.deleted', 'wsDel', {});
    expect(await withToken(a.value)).toBe(401);
    expect(await withToken(b.value)).toBe(401);
    const session = await withSession('w1', 'wsDel');
    expect(session.status).toBe(403);
    expect(session.body).toMatchObject({ reason: 'workspace_deleted', workspace_id: 'wsDel' });
    expect(await withToken(elsewhere.value)).toBe(200);
    expect((await withSession('w1', 'wsKeep')).status).toBe(200);
  });

  it("sweeps the workspace's tokens, quotas, membership records, usage logs and plan", async () => {
    const seeded: { id: string; value: string }[] = [];
    for (let i = 0; i < 4; i++) seeded.push(await seedToken({ userId: `u${i % 2}`, workspaceId: 'wsT' }));
    await emitEvent('workspace.plan_changed', 'wsT', { plan: 'pro' });
    const usage = (n: number) => ({
      messageId: `m${n}`,
      body: JSON.stringify({
        id: `req${n}`,
        token_id: seeded[0]?.id,
        user_id: 'u0',
        workspace_id: 'wsT',
        method: 'GET',
        route: '/rate-limit',
        status: 200,
        latency_ms: 3,
        at: new Date(Date.now() - n * 1000).toISOString(),
        client_ip: '192.0.2.1',
      }),
    });
    expect(await recordUsageBatch([1, 2, 3].map(usage))).toEqual([]);
    expect(await countUnder(keys.usageOfUser('wsT', 'u0'))).toBe(3);
    expect(await countUnder('WS#wsT')).toBe(4 + 2 + 1); // tokens, quotas, plan

    await emitEvent('workspace.deleted', 'wsT', {});
    await sweepCascade('workspace', 'wsT');
    expect(await countUnder('WS#wsT')).toBe(0);
    expect(await countUnder(keys.usageOfUser('wsT', 'u0'))).toBe(0);
    for (const t of seeded) expect(await findAuthRecord(hashToken(t.value))).toBeUndefined();
    // 4 × (metadata + auth), 3 usage logs, 2 quotas
    expect(await findCascade('workspace', 'wsT')).toMatchObject({ status: 'DONE', deleted: 4 * 2 + 3 + 2 });
  });
});
