import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { routes } from '#functions/routes.ts';
import { handler as getRateLimit } from '#functions/tokens/get-rate-limit.ts';
import { consumers } from '#functions/workers/ingest-events.ts';
import { db, tableName } from '#shared/db/client.ts';
import { keys } from '#shared/db/keys.ts';
import { ingestMessage } from '#shared/events/ingest.ts';
import { getWorkspacePlan } from '#shared/tokens/plans.ts';
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
const planEvent = (workspaceId: string, plan: unknown, occurredAt: string) =>
  ingestMessage(
    `m${++n}`,
    JSON.stringify({
      id: `evt_${n}`,
      type: 'workspace.plan_changed',
      workspace_id: workspaceId,
      occurred_at: occurredAt,
      data: { plan },
    }),
    consumers,
  );

describe('workspace.plan_changed', () => {
  it('sets the plan of the workspace and of its existing tokens; new tokens get it too', async () => {
    const before = await seedToken({ workspaceId: 'wsA', scopes: ['read:tasks'] });
    expect((await invoke(getRateLimit, routes.getRateLimit, { token: before.value })).body.limit).toBe(60);
    const out = await planEvent('wsA', 'pro', '2026-01-01T00:00:00Z');
    expect(out).toEqual({ outcome: 'dispatched', consumers: ['tokens.plan'] });
    expect((await getWorkspacePlan('wsA')).plan).toBe('pro');
    const res = await invoke(getRateLimit, routes.getRateLimit, { token: before.value });
    expect(res.body).toMatchObject({ plan: 'pro', limit: 1000 });
    expect(res.headers['ratelimit-policy']).toBe('"pro";q=1000;w=60');
    const after = await seedToken({ workspaceId: 'wsA', scopes: ['read:tasks'] });
    expect((await invoke(getRateLimit, routes.getRateLimit, { token: after.value })).body.plan).toBe('pro');
    const session = await id.jwt('u9', [{ id: 'wsA', role: 'member' }]);
    expect((await invoke(getRateLimit, routes.getRateLimit, { token: session })).body).toMatchObject({
      subject: 'session',
      plan: 'pro',
      limit: 1000,
    });
  });

  it('ignores an event older than the one that set the current plan', async () => {
    const tok = await seedToken({ workspaceId: 'wsB' });
    await planEvent('wsB', 'enterprise', '2026-02-01T00:00:00Z');
    await planEvent('wsB', 'free', '2026-01-15T00:00:00Z');
    expect((await getWorkspacePlan('wsB')).plan).toBe('enterprise');
    expect((await findAuthRecord(hashToken(tok.value)))?.plan).toBe('enterprise');
  });

  it('is idempotent: a replayed event leaves the same state', async () => {
    const tok = await seedToken({ workspaceId: 'wsC' });
    await planEvent('wsC', 'pro', '2026-03-01T00:00:00Z');
    n -= 1; // same message and event id again
    await planEvent('wsC', 'pro', '2026-03-01T00:00:00Z');
    expect((await getWorkspacePlan('wsC')).plan).toBe('pro');
    expect((await findAuthRecord(hashToken(tok.value)))?.plan).toBe('pro');
  });

  it('ignores an unknown plan without failing the message', async () => {
    const out = await planEvent('wsD', 'platinum', '2026-03-01T00:00:00Z');
    expect(out).toEqual({ outcome: 'dispatched', consumers: ['tokens.plan'] });
    // The raw item, not getWorkspacePlan (which would read an unknown plan as free anyway).
    const { Item } = await db().send(
      new GetCommand({ TableName: tableName(), Key: keys.workspacePlan('wsD'), ConsistentRead: true }),
    );
    expect(Item).toBeUndefined();
  });

  it('keeps workspaces apart', async () => {
    const other = await seedToken({ workspaceId: 'wsE' });
    await planEvent('wsF', 'enterprise', '2026-03-01T00:00:00Z');
    expect((await findAuthRecord(hashToken(other.value)))?.plan).toBe('free');
  });
});
