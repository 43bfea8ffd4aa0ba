/**
 * GET /status/workspace: the counters the features keep at their transitions, read back through
 * real handler calls, for a member (the workspace's view) and an operator (the service-wide view,
 * the DLQ depths, the cascades in progress); and what a call costs in DynamoDB reads.
 */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import { routes } from '#functions/routes.ts';
import { handler as getStatus } from '#functions/system/get-status.ts';
import { handler as getWorkspaceStatus } from '#functions/system/get-workspace-status.ts';
import { handler as createToken } from '#functions/tokens/create-token.ts';
import { handler as revokeToken } from '#functions/tokens/revoke-token.ts';
import { handler as rotateToken } from '#functions/tokens/rotate-token.ts';
import { handler as updateToken } from '#functions/tokens/update-token.ts';
import { sqs } from '#shared/queues.ts';
import { putStatusEntry } from '#shared/status-lines.ts';
import { setEnv, useTestSqs, useTestTable } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { type TestIdentity, testIdentity } from '#test/helpers/session.ts';
import { countDynamoCalls } from '#test/helpers/tokens.ts';

useTestTable();
const queues = useTestSqs();
let id: TestIdentity;
let alice: string;
let bob: string;
let dave: string;
let operator: string;
beforeAll(async () => {
  setEnv({ RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '100000' });
  id = await testIdentity();
  alice = await id.jwt('alice', [{ id: 'ws1', role: 'admin' }]);
  bob = await id.jwt('bob', [{ id: 'ws1', role: 'member' }]);
  dave = await id.jwt('dave', [{ id: 'ws2', role: 'admin' }]);
  operator = await id.jwt('olga', [{ id: 'ws9', role: 'member' }], { operator: true });
});

const inDays = (d: number) => new Date(Date.now() + d * 86_400_000).toISOString();
const status = async (token: string) => {
  const res = await invoke(getWorkspaceStatus, routes.workspaceStatus, { token });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
};
const newToken = async (token: string, body: Record<string, unknown>) => {
  const res = await invoke(createToken, routes.createToken, {
    token,
    body: { scopes: ['read:tasks'], ...body },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; token: string };
};

describe('GET /status (anonymous)', () => {
  it('answers what it always did: no counters, no credentials needed', async () => {
    await newToken(alice, { name: 'before' });
    const res = await invoke(getStatus, routes.status);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual([
      'background',
      'capabilities',
      'service',
      'time',
      'version',
    ]);
    expect(JSON.stringify(res.body)).not.toMatch(/COUNTER|tokens#|expiring/);
  });
});

describe('GET /status/workspace: tokens', () => {
  it('counts tokens active and expiring within 7 days as they are created, switched off, rotated and revoked', async () => {
    const before = (await status(bob)).features.tokens ?? { active: 0, expiring_7d: 0 };
    const long = await newToken(bob, { name: 'long' });
    const soon = await newToken(bob, { name: 'soon', expires_at: inDays(3) });
    const third = await newToken(bob, { name: 'third', expires_at: inDays(30) });
    const delta = async () => {
      const t = (await status(bob)).features.tokens;
      return { active: t.active - before.active, expiring_7d: t.expiring_7d - before.expiring_7d };
    };
    expect(await delta()).toEqual({ active: 3, expiring_7d: 1 });

    // Rotating the long-lived token to a near expiry moves it into the next 7 days.
    const rot = await invoke(rotateToken, routes.rotateToken, {
      token: bob,
      params: { id: long.id },
      body: { expires_at: inDays(2) },
    });
    expect(rot.status, JSON.stringify(rot.body)).toBe(200);
    expect(await delta()).toEqual({ active: 3, expiring_7d: 2 });

    // Switched off: out of the count; switching it off again changes nothing; back on: in again.
    const off = () =>
      invoke(updateToken, routes.updateToken, {
        token: bob,
        params: { id: third.id },
        body: { is_active: false },
      });
    expect((await off()).status).toBe(200);
    expect((await off()).status).toBe(200);
    expect(await delta()).toEqual({ active: 2, expiring_7d: 2 });
    const on = await invoke(updateToken, routes.updateToken, {
      token: bob,
      params: { id: third.id },
      body: { is_active: true },
    });
    expect(on.status, JSON.stringify(on.body)).toBe(200);
    expect(await delta()).toEqual({ active: 3, expiring_7d: 2 });

    // Revoked twice (a retry): counted out once.
    for (let i = 0; i < 2; i++) {
      const res = await invoke(revokeToken, routes.revokeToken, { token: bob, params: { id: soon.id } });
      expect(res.status).toBe(204);
    }
    expect(await delta()).toEqual({ active: 2, expiring_7d: 1 });
  });

  it('answers an API token of the workspace with the same view', async () => {
    const t = await newToken(alice, { name: 'reader' });
    const viaToken = await status(t.token);
    const viaSession = await status(alice);
    expect(viaToken.workspace_id).toBe('ws1');
    expect(viaToken.features).toEqual(viaSession.features);
    expect(viaToken.service).toBeUndefined();
  });

  it('keeps workspaces apart', async () => {
    await newToken(dave, { name: 'elsewhere', expires_at: inDays(5) });
    const ws2 = await status(dave);
    expect(ws2.workspace_id).toBe('ws2');
    expect(ws2.features.tokens).toEqual({ active: 1, expiring_7d: 1 });
  });

  it('refuses anonymous callers (401)', async () => {
    const res = await invoke(getWorkspaceStatus, routes.workspaceStatus, {});
    expect(res.status).toBe(401);
  });
});

describe('GET /status/workspace as an operator', () => {
  it('adds the service-wide counters, the DLQ depths and the cascades in progress', async () => {
    await sqs().send(
      new SendMessageCommand({ QueueUrl: queues.current.dlqUrls.lifecycle, MessageBody: '{"parked":true}' }),
    );
    await putStatusEntry('lifecycle_cascades', 'c1', {
      kind: 'workspace',
      step: 'tokens',
      started_at: new Date().toISOString(),
      updated_at: new Date().toISOString(),
      items_done: 3,
    });
    const [ws1, ws2, op] = [await status(alice), await status(dave), await status(operator)];
    expect(op.features).toEqual({}); // ws9 has nothing
    expect(op.service.features.tokens).toEqual({
      active: ws1.features.tokens.active + ws2.features.tokens.active,
      expiring_7d: ws1.features.tokens.expiring_7d + ws2.features.tokens.expiring_7d,
    });
    const depths = Object.fromEntries(
      op.service.dead_letter_queues.map((q: { queue: string; messages: number }) => [q.queue, q.messages]),
    );
    expect(depths).toMatchObject({ lifecycle: 1, deliveries: 0, ingest: 0 });
    expect(Object.keys(depths).sort()).toEqual(Object.keys(queues.current.dlqUrls).sort());
    expect(op.service.background).toEqual([
      expect.objectContaining({ name: 'lifecycle_cascades', in_progress: 1 }),
    ]);
  });

  it('shows no service part to a member', async () => {
    expect((await status(bob)).service).toBeUndefined();
  });
});

describe('what a status call costs', () => {
  it('reads the counters with one Query for a member and two for an operator', async () => {
    await status(bob); // warm: session keys loaded
    const count = countDynamoCalls();
    try {
      await status(bob);
      const member = [...count.calls];
      count.reset();
      await status(operator);
      const op = [...count.calls];
      // Besides the chain's own round trips (the session's one BatchGetItem, the rate-limit ADD).
      const chain = ['BatchGetItemCommand', 'UpdateItemCommand'];
      expect(member.filter((c) => !chain.includes(c))).toEqual(['QueryCommand']);
      expect(op.filter((c) => !chain.includes(c))).toEqual(['QueryCommand', 'QueryCommand']);
      expect(
        member.filter((c) => c.startsWith('Batch') || c.startsWith('Get') || c === 'QueryCommand').length,
      ).toBe(2);
      expect(
        op.filter((c) => c.startsWith('Batch') || c.startsWith('Get') || c === 'QueryCommand').length,
      ).toBe(3);
    } finally {
      count.stop();
    }
  });
});
