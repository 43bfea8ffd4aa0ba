import { BatchWriteCommand, GetCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { handler as sweepWorker } from '#functions/lifecycle/sweep-cascades.ts';
import { routes } from '#functions/routes.ts';
import { handler as getStatus } from '#functions/system/get-status.ts';
import { db, tableName } from '#shared/db/client.ts';
import { keys } from '#shared/db/keys.ts';
import { NotFoundError } from '#shared/errors.ts';
import type { Caller } from '#shared/http/caller.ts';
import { findCascade } from '#shared/lifecycle/cascades.ts';
import { participants } from '#shared/lifecycle/participants.ts';
import { runCascadePage, STALL_SECONDS } from '#shared/lifecycle/sweep.ts';
import { deletedAppsAmong } from '#shared/oauth/deleted-apps.ts';
import { connectionOf, listOfCaller } from '#shared/oauth/service.ts';
import { pluginKeys } from '#shared/plugins/keys.ts';
import { expiryMarker } from '#shared/webhooks/delivery-markers.ts';
import { useTestSqs, useTestTable } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { emitEvent, sweepCascade } from '#test/helpers/lifecycle.ts';
import { drainQueue } from '#test/helpers/queue-worker.ts';
import { useMemorySecrets } from '#test/helpers/secrets.ts';
import { testIdentity } from '#test/helpers/session.ts';
import { seedToken } from '#test/helpers/tokens.ts';

useTestTable();
useTestSqs();
beforeAll(async () => {
  useMemorySecrets();
  await testIdentity();
});

/** Writes items with BatchWriteItem, 25 a call, 16 calls side by side. */
async function seed(items: Record<string, unknown>[]) {
  const chunks: Record<string, unknown>[][] = [];
  for (let i = 0; i < items.length; i += 25) chunks.push(items.slice(i, i + 25));
  for (let i = 0; i < chunks.length; i += 16) {
    await Promise.all(
      chunks.slice(i, i + 16).map(async (chunk) => {
        let pending = chunk.map((Item) => ({ PutRequest: { Item } }));
        while (pending.length) {
          const out = await db().send(new BatchWriteCommand({ RequestItems: { [tableName()]: pending } }));
          pending = (out.UnprocessedItems?.[tableName()] ?? []) as typeof pending;
        }
      }),
    );
  }
}

async function count(input: {
  pk?: string;
  prefix?: string;
  index?: { name: string; pk: string; value: string };
}) {
  let total = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const out = await db().send(
      new QueryCommand({
        TableName: tableName(),
        ...(input.index
          ? {
              IndexName: input.index.name,
              KeyConditionExpression: `${input.index.pk} = :v`,
              ExpressionAttributeValues: { ':v': input.index.value },
            }
          : {
              KeyConditionExpression: input.prefix ? 'pk = :pk AND begins_with(sk, :p)' : 'pk = :pk',
              ExpressionAttributeValues: { ':pk': input.pk, ...(input.prefix ? { ':p': input.prefix } : {}) },
              ConsistentRead: true,
            }),
        Select: 'COUNT',
        ExclusiveStartKey: start,
      }),
    );
    total += out.Count ?? 0;
    start = out.LastEvaluatedKey;
  } while (start);
  return total;
}

async function countDeliveries(workspaceId: string) {
  const out = await db().send(
    new ScanCommand({
      TableName: tableName(),
      FilterExpression: 'workspace_id = :ws AND entity IN (:d, :m)',
      ExpressionAttributeValues: {
        ':ws': workspaceId,
        ':d': 'WebhookDelivery',
        ':m': 'WebhookDeliveryExpiry',
      },
      Select: 'COUNT',
    }),
  );
  let total = out.Count ?? 0;
  let start = out.LastEvaluatedKey;
  while (start) {
    const more = await db().send(
      new ScanCommand({
        TableName: tableName(),
        FilterExpression: 'workspace_id = :ws AND entity IN (:d, :m)',
        ExpressionAttributeValues: {
          ':ws': workspaceId,
          ':d': 'WebhookDelivery',
          ':m': 'WebhookDeliveryExpiry',
        },
        Select: 'COUNT',
        ExclusiveStartKey: start,
      }),
    );
    total += more.Count ?? 0;
    start = more.LastEvaluatedKey;
  }
  return total;
}

/** Endpoints with deliveries (PENDING ones with their expiry marker), raw items as the webhooks feature writes them. */
function webhookItems(workspaceId: string, endpoints: number, deliveriesEach: number, pendingEach: number) {
  const items: Record<string, unknown>[] = [
    { ...keys.webhookCount(workspaceId), entity: 'WebhookCount', count: endpoints },
  ];
  const now = Date.now();
  for (let e = 0; e < endpoints; e++) {
    const endpointId = `wh_${workspaceId}_${e}`;
    items.push({
      ...keys.webhookEndpoint(workspaceId, endpointId),
      entity: 'WebhookEndpoint',
      id: endpointId,
      workspace_id: workspaceId,
      active: true,
      event_types: ['task.created'],
    });
    for (let d = 0; d < deliveriesEach; d++) {
      const id = `dlv_${workspaceId}_${e}_${d}`;
      const createdAt = new Date(now - d * 1000).toISOString();
      const expiresAt = new Date(now + 3_600_000 + d).toISOString();
      const pending = d < pendingEach;
      items.push({
        ...keys.webhookDelivery(id),
        ...keys.webhookDeliveryIndex(endpointId, createdAt, id),
        entity: 'WebhookDelivery',
        id,
        endpoint_id: endpointId,
        workspace_id: workspaceId,
        status: pending ? 'PENDING' : 'DELIVERED',
        created_at: createdAt,
        expires_at: expiresAt,
      });
      if (pending) items.push({ ...expiryMarker(id, expiresAt, 0, createdAt), workspace_id: workspaceId });
    }
  }
  return items;
}

function pluginItems(pluginId: string, installs: { ws: string; by: string }[]) {
  return [
    {
      ...pluginKeys.plugin(pluginId),
      entity: 'Plugin',
      id: pluginId,
      status: 'PUBLISHED',
      install_count: installs.length,
    },
    ...installs.flatMap(({ ws, by }) => [
      {
        ...pluginKeys.installation(ws, pluginId),
        ...pluginKeys.installationOfPlugin(pluginId, ws),
        entity: 'PluginInstallation',
        plugin_id: pluginId,
        workspace_id: ws,
        version: '1.0.0',
        status: 'ACTIVE',
        accepted_permissions: [],
        configuration: {},
        enabled: true,
        installed_by: by,
        installed_at: new Date().toISOString(),
        revision: 1,
      },
    ]),
  ];
}

const installCounts = (workspaces: string[]) =>
  workspaces.map((ws) => ({ ...pluginKeys.installCount(ws), entity: 'PluginCount', count: 1 }));

function connection(ws: string, user: string, id: string, app: string) {
  return {
    ...keys.oauthConnection(ws, user, id),
    entity: 'OAuthConnection',
    id,
    workspace_id: ws,
    user_id: user,
    app_id: app,
    status: 'ACTIVE',
  };
}

/** Runs the lifecycle worker over its queue (real SQS batches of one, as deployed) until it is empty. */
const drainLifecycleQueue = (max = 500) =>
  drainQueue(process.env.LIFECYCLE_QUEUE_URL as string, sweepWorker, {
    batchSize: 1,
    max,
    name: 'lifecycle',
    // The webhooks sweep of a workspace with endpoints waits a moment after the mark (a delayed message).
    waitForDelayed: true,
  });

describe('workspace.deleted', () => {
  it('sweeps 5 000 webhook items over many invocations, survives a redelivered event and a lost message, and reports progress', async () => {
    const ws = 'wsBig';
    const seeded = webhookItems(ws, 2, 2400, 100); // 2 endpoints, 4 800 deliveries, 200 markers
    const t0 = performance.now();
    await seed([...seeded, ...pluginItems('plg_big', [{ ws, by: 'admin1' }]), ...installCounts([ws])]);
    const seededMs = performance.now() - t0;
    expect(await countDeliveries(ws)).toBe(5000);
    const token = await seedToken({ userId: 'admin1', workspaceId: ws });

    const event = { id: 'evt_ws_big' };
    await emitEvent('workspace.deleted', ws, {}, event.id);
    // Marked: the endpoints are off at once (no fan-out), the token refused.
    const endpoint = await db().send(
      new GetCommand({
        TableName: tableName(),
        Key: keys.webhookEndpoint(ws, `wh_${ws}_0`),
        ConsistentRead: true,
      }),
    );
    expect(endpoint.Item?.active).toBe(false);

    // A few pages, then the same event again (redelivered): the chain goes on, it does not fork.
    for (let i = 0; i < 5; i++) {
      const r = await findCascade('workspace', ws);
      expect(await runCascadePage({ kind: 'workspace', id: ws, seq: r!.seq }, participants)).toBe('swept');
    }
    const mid = await findCascade('workspace', ws);
    await emitEvent('workspace.deleted', ws, {}, event.id);
    expect(await findCascade('workspace', ws)).toMatchObject({
      seq: mid!.seq,
      deleted: mid!.deleted,
      runs: 1,
    });
    // A copy of the page just applied is dropped; the message before it, redelivered after its
    // invocation died (no next message sent), sends the current one again once the record is idle.
    expect(await runCascadePage({ kind: 'workspace', id: ws, seq: mid!.seq - 1 }, participants)).toBe(
      'duplicate',
    );
    const later = () => new Date(Date.now() + (STALL_SECONDS + 1) * 1000);
    expect(await runCascadePage({ kind: 'workspace', id: ws, seq: mid!.seq - 1 }, participants, later)).toBe(
      'resent',
    );

    const status = await invoke(getStatus, routes.status, {});
    const line = (
      status.body as { background: { name: string; in_progress: number; entries: unknown[] }[] }
    ).background.find((l) => l.name === 'lifecycle_cascades');
    expect(line).toMatchObject({ in_progress: 1, entries: [{ kind: 'workspace' }] });
    expect(JSON.stringify(status.body)).not.toContain(ws); // a public route: no subject ids

    const t1 = performance.now();
    const pages = await sweepCascade('workspace', ws);
    const sweptMs = performance.now() - t1;
    expect(pages.length).toBeGreaterThan(20); // several invocations, each bounded
    expect(await countDeliveries(ws)).toBe(0);
    expect(await count({ pk: `WS#${ws}` })).toBe(0); // endpoints, counters, installation, tokens, plan
    expect(await count({ index: { name: 'gsi1', pk: 'gsi1pk', value: `WEBHOOK#wh_${ws}_0` } })).toBe(0);
    const done = await findCascade('workspace', ws);
    expect(done).toMatchObject({ status: 'DONE', runs: 1 });
    expect(done?.deleted_by.webhooks).toBe(5000 + 2);
    expect(done?.deleted_by.plugins).toBe(1);
    expect(done?.deleted).toBe(5000 + 2 + 1 + 2 + 1); // + the token (2 items) and its quota
    const after = await invoke(getStatus, routes.status, {});
    expect(after.body).toMatchObject({
      background: [{ name: 'lifecycle_cascades', in_progress: 0, entries: [] }],
    });
    console.info(
      `5 000-item cascade: seeded in ${Math.round(seededMs)} ms, swept in ${pages.length} pages, ${Math.round(sweptMs)} ms`,
    );
    expect(token.id).toBeTruthy();

    // Idempotent: the event once more, after the end, runs the cascade again and finds nothing.
    await emitEvent('workspace.deleted', ws, {}, 'evt_ws_big_again');
    await sweepCascade('workspace', ws);
    expect(await findCascade('workspace', ws)).toMatchObject({ status: 'DONE', runs: 2, deleted: 0 });
  }, 120_000);

  it('runs through the lifecycle queue and its worker, a message per page', async () => {
    const ws = 'wsQueue';
    await seed([
      ...webhookItems(ws, 1, 30, 5),
      ...pluginItems('plg_q', [{ ws, by: 'x' }]),
      ...installCounts([ws]),
    ]);
    await emitEvent('workspace.deleted', ws, {});
    const ran = await drainLifecycleQueue();
    expect(ran).toBeGreaterThan(3);
    expect(await countDeliveries(ws)).toBe(0);
    expect(await count({ pk: `WS#${ws}` })).toBe(0);
    expect(await findCascade('workspace', ws)).toMatchObject({
      status: 'DONE',
      deleted_by: { webhooks: 36 },
    });
  });
});

describe('user.deleted', () => {
  it('removes the installations the user installed at the mark, and sweeps their OAuth connections in every workspace', async () => {
    await seedToken({ userId: 'ux', workspaceId: 'wsU1' });
    await seedToken({ userId: 'ux', workspaceId: 'wsU2' });
    await seedToken({ userId: 'uy', workspaceId: 'wsU1' });
    await seed([
      ...pluginItems('plg_u', [
        { ws: 'wsU1', by: 'ux' },
        { ws: 'wsU2', by: 'uy' },
      ]),
      ...installCounts(['wsU1', 'wsU2']),
      connection('wsU1', 'ux', 'conn_ux1', 'some-app'),
      connection('wsU2', 'ux', 'conn_ux2', 'some-app'),
      { pk: keys.oauthConnectionOwned('conn_ux1'), sk: 'BINDING#b1', entity: 'Binding' },
      connection('wsU1', 'uy', 'conn_uy1', 'some-app'),
    ]);

    await emitEvent('user.deleted', 'anything', { user_id: 'ux' });
    // Marked: ux's installation is gone already (other members could see it), uy's stays.
    expect(await count({ pk: 'WS#wsU1', prefix: 'PLUGININST#' })).toBe(0);
    expect(await count({ pk: 'WS#wsU2', prefix: 'PLUGININST#' })).toBe(1);

    await sweepCascade('user', 'ux');
    expect(await count({ pk: 'WS#wsU1', prefix: 'OAUTHCONN#ux#' })).toBe(0);
    expect(await count({ pk: 'WS#wsU2', prefix: 'OAUTHCONN#ux#' })).toBe(0);
    expect(await count({ pk: keys.oauthConnectionOwned('conn_ux1') })).toBe(0);
    expect(await count({ pk: 'WS#wsU1', prefix: 'OAUTHCONN#uy#' })).toBe(1);
    expect(await count({ pk: 'WS#wsU1', prefix: keys.apiTokensOfUser('uy') })).toBe(1);
    expect(await findCascade('user', 'ux')).toMatchObject({
      status: 'DONE',
      deleted_by: { tokens: 2 * 2 + 2, oauth: 2 },
    });
  });
});

describe('oauth_app.deleted', () => {
  it("hides the app's connections at the mark, then revokes and deletes them, and only them", async () => {
    await seed([
      connection('wsA1', 'a1', 'conn_a1', 'doomed'),
      connection('wsA2', 'a2', 'conn_a2', 'doomed'),
      { pk: keys.oauthConnectionOwned('conn_a2'), sk: 'BINDING#b', entity: 'Binding' },
      connection('wsA1', 'a1', 'conn_a3', 'kept'),
    ]);
    await emitEvent('oauth_app.deleted', 'wsA1', { oauth_app_id: 'doomed' });
    expect([...(await deletedAppsAmong(['doomed', 'kept']))]).toEqual(['doomed']);
    // Marked: the API no longer serves the deleted app's connections (before any sweep).
    const a1 = {
      kind: 'session',
      userId: 'a1',
      workspaceId: 'wsA1',
      role: 'admin',
      workspaces: [],
    } as unknown as Caller;
    await expect(connectionOf(a1, 'conn_a1')).rejects.toBeInstanceOf(NotFoundError);
    expect((await connectionOf(a1, 'conn_a3')).id).toBe('conn_a3');
    const listed = await listOfCaller(a1, { limit: 20 });
    expect(listed.data.map((c) => c.id)).toEqual(['conn_a3']);
    await sweepCascade('oauth_app', 'doomed');
    expect(await count({ pk: 'WS#wsA1', prefix: 'OAUTHCONN#' })).toBe(1);
    expect(await count({ pk: 'WS#wsA2', prefix: 'OAUTHCONN#' })).toBe(0);
    expect(await count({ pk: keys.oauthConnectionOwned('conn_a2') })).toBe(0);
    expect(await findCascade('oauth_app', 'doomed')).toMatchObject({ status: 'DONE', deleted: 2 });
  });
});

describe('plugin.deleted', () => {
  it("starts the plugin's own deletion cascade at the mark and ends when it has removed the plugin", async () => {
    await seed([
      ...pluginItems('plg_gone', [
        { ws: 'wsP1', by: 'p' },
        { ws: 'wsP2', by: 'p' },
      ]),
      ...installCounts(['wsP1', 'wsP2']),
    ]);
    await emitEvent('plugin.deleted', 'wsP1', { plugin_id: 'plg_gone' });
    const plugin = await db().send(
      new GetCommand({ TableName: tableName(), Key: pluginKeys.plugin('plg_gone'), ConsistentRead: true }),
    );
    expect(plugin.Item?.status).toBe('DELETING');
    const r = await findCascade('plugin', 'plg_gone');
    // Still waiting for the plugin jobs (not run in this test): the record says so.
    expect(await runCascadePage({ kind: 'plugin', id: 'plg_gone', seq: r!.seq }, participants)).toBe('swept');
    expect(await findCascade('plugin', 'plg_gone')).toMatchObject({
      status: 'SWEEPING',
      cursor: { waiting: true },
    });
  });

  it('acknowledges a deletion of a plugin it does not know, with nothing to do', async () => {
    await emitEvent('plugin.deleted', 'ws', { plugin_id: 'plg_never' });
    await sweepCascade('plugin', 'plg_never');
    expect(await findCascade('plugin', 'plg_never')).toMatchObject({ status: 'DONE', deleted: 0 });
  });
});

describe('the lifecycle worker', () => {
  it('drops a message that is not a cascade page (only this service sends them) instead of retrying it', async () => {
    const event = {
      Records: [{ messageId: 'm-bad', receiptHandle: 'r', body: '{"kind":"galaxy"}', attributes: {} }],
    } as unknown as SQSEvent;
    expect(await sweepWorker(event, {} as never)).toEqual({ batchItemFailures: [] });
  });

  it('drops a page of a cascade it has no record of', async () => {
    expect(await runCascadePage({ kind: 'user', id: 'nobody-ever', seq: 1 }, participants)).toBe('unknown');
  });
});

describe('deletion events', () => {
  it('ignores (and acknowledges) one with invalid data', async () => {
    const out = await emitEvent('user.deleted', 'ws', { nobody: true });
    expect(out).toEqual({ outcome: 'dispatched', consumers: ['lifecycle'] });
    expect(await findCascade('user', 'undefined')).toBeUndefined();
  });
});
