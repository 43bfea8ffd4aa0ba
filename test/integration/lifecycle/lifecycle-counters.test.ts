/**
 * The status view's counters in the lifecycle cascades: a deleted user's tokens leave their
 * workspaces' counts (and the service's); a deleted workspace's counter partition goes and its
 * counts leave the service-wide ones, once, however often a page runs.
 */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { routes } from '#functions/routes.ts';
import { handler as getWorkspaceStatus } from '#functions/system/get-workspace-status.ts';
import { countersParticipant } from '#shared/counters.ts';
import { db, tableName } from '#shared/db/client.ts';
import { keys } from '#shared/db/keys.ts';
import { createEndpoint } from '#shared/webhooks/endpoints.ts';
import { setEnv, useTestSqs, useTestTable } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { emitEvent, sweepCascade } from '#test/helpers/lifecycle.ts';
import { useMemorySecrets } from '#test/helpers/secrets.ts';
import { type TestIdentity, testIdentity } from '#test/helpers/session.ts';
import { seedToken } from '#test/helpers/tokens.ts';

useTestTable();
useTestSqs();
let id: TestIdentity;
let operator: string;
beforeAll(async () => {
  useMemorySecrets();
  setEnv({ RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '100000', ALLOW_LOOPBACK_TARGETS: 'true' });
  id = await testIdentity();
  operator = await id.jwt('olga', [{ id: 'ws-ops', role: 'member' }], { operator: true });
});

const view = async (token: string) => {
  const res = await invoke(getWorkspaceStatus, routes.workspaceStatus, { token });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
};
const counterItems = async (ws: string) =>
  (
    await db().send(
      new QueryCommand({
        TableName: tableName(),
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.workspaceCounters(ws) },
        ConsistentRead: true,
      }),
    )
  ).Items ?? [];

describe('counters in the lifecycle cascades', () => {
  it("takes a deleted user's tokens out of the counts, and drops a deleted workspace's counters", async () => {
    await seedToken({ userId: 'ann', workspaceId: 'ws-a' });
    await seedToken({ userId: 'carl', workspaceId: 'ws-a' });
    await seedToken({ userId: 'carl', workspaceId: 'ws-b' });
    await seedToken({ userId: 'bea', workspaceId: 'ws-b' });
    await createEndpoint('ws-a', 'ann', {
      name: 'hook',
      url: 'http://127.0.0.1:9/hook',
      events: { 'task.created': true },
      retry_policy: 'NONE',
    });
    const ann = await id.jwt('ann', [{ id: 'ws-a', role: 'admin' }]);
    const bea = await id.jwt('bea', [{ id: 'ws-b', role: 'admin' }]);
    expect((await view(operator)).service.features.tokens.active).toBe(4);

    // carl is deleted: his token in each workspace leaves its count.
    await emitEvent('user.deleted', 'ws-a', { user_id: 'carl' });
    await sweepCascade('user', 'carl');
    expect((await view(ann)).features.tokens.active).toBe(1);
    expect((await view(bea)).features.tokens.active).toBe(1);
    expect((await view(operator)).service.features.tokens.active).toBe(2);

    // ws-a is deleted: its counters go, and what they counted leaves the service's.
    await emitEvent('workspace.deleted', 'ws-a', {});
    await sweepCascade('workspace', 'ws-a');
    expect(await counterItems('ws-a')).toEqual([]);
    const service = (await view(operator)).service.features;
    expect(service.tokens.active).toBe(1);
    expect(service.webhooks.endpoints).toEqual({ active: 0 });
    // A page run again (a redelivered message) finds nothing to take out twice.
    expect(
      await countersParticipant.sweep(
        { kind: 'workspace', id: 'ws-a', eventId: 'e', acceptedAt: '' },
        undefined,
        { maxItems: 50 },
      ),
    ).toEqual({ deleted: 0 });
    expect((await view(operator)).service.features.tokens.active).toBe(1);
    expect((await view(bea)).features.tokens.active).toBe(1);
  });
});
