import { createHash, randomBytes } from 'node:crypto';
import { DeleteCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { handler as createH } from '#functions/plugins/create-plugin.ts';
import { handler as createVersionH } from '#functions/plugins/create-plugin-version.ts';
import { handler as installH } from '#functions/plugins/install-plugin.ts';
import { handler as uninstallH } from '#functions/plugins/uninstall-plugin.ts';
import { routes } from '#functions/routes.ts';
import { handler as createTokenH } from '#functions/tokens/create-token.ts';
import { db, tableName } from '#shared/db/client.ts';
import { pluginKeys } from '#shared/plugins/keys.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { putPublishedPlugins } from '#test/helpers/plugins.ts';
import { usePluginsHarness } from './plugins-harness.ts';

const h = usePluginsHarness();
const body = randomBytes(32);
const manifest = (version: string, secret: boolean) => ({
  name: 'Secret Keeper',
  version,
  description: 'Keeps a key.',
  author: 'Tests',
  category: 'security',
  package: { size_bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') },
  configuration: {
    type: 'object',
    properties: { key: { type: 'string', ...(secret ? { secret: true } : {}) } },
  },
});

describe('plugin edge cases', () => {
  it('refuses a version that would turn a secret setting into a plain one', async () => {
    const { seedCatalog } = await import('#shared/plugins/seed.ts');
    await seedCatalog();
    // time-tracker 2.0.1 has the secret `reporting_api_key`.
    const res = await invoke(createVersionH, routes.createPluginVersion, {
      token: h.operator,
      params: { id: 'time-tracker' },
      body: {
        ...manifest('3.0.0', false),
        configuration: { type: 'object', properties: { reporting_api_key: { type: 'string' } } },
      },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].path).toBe('body.configuration.properties.reporting_api_key');
  });

  it('frees the workspace slot on uninstall even when the plugin item is already gone', async () => {
    await putPublishedPlugins(['vanishing-plugin']);
    const token = await h.id.jwt('gina', [{ id: 'ws-vanish', role: 'admin' }]);
    expect(
      (await invoke(installH, routes.installPlugin, { token, params: { id: 'vanishing-plugin' }, body: {} }))
        .status,
    ).toBe(201);
    await db().send(
      new DeleteCommand({ TableName: tableName(), Key: pluginKeys.plugin('vanishing-plugin') }),
    );
    const res = await invoke(uninstallH, routes.uninstallPlugin, {
      token,
      params: { id: 'vanishing-plugin' },
    });
    expect(res.status).toBe(204);
    const count = await db().send(
      new GetCommand({ TableName: tableName(), Key: pluginKeys.installCount('ws-vanish') }),
    );
    expect(count.Item?.count).toBe(0);
  });

  it('lets an operator who is a mere member of their workspace publish, and mint an admin:plugins token', async () => {
    const op = await h.id.jwt('oscar', [{ id: 'ops-m', role: 'member' }], { operator: true });
    const res = await invoke(createH, routes.createPlugin, {
      token: op,
      body: { id: 'member-made', ...manifest('1.0.0', true) },
    });
    expect(res.status).toBe(201);
    const minted = await invoke(createTokenH, routes.createToken, {
      token: op,
      body: { name: 'ops', scopes: ['admin:plugins'] },
    });
    expect(minted.status).toBe(201);
    // …but not other admin scopes.
    const beyond = await invoke(createTokenH, routes.createToken, {
      token: op,
      body: { name: 'ops', scopes: ['admin:webhooks'] },
    });
    expect(beyond.status).toBe(403);
  });

  it('removes the installations of a deleted user who left nothing else behind, at the mark', async () => {
    await putPublishedPlugins(['orphan-maker']);
    const token = await h.id.jwt('henry', [{ id: 'ws-henry', role: 'admin' }]);
    expect(
      (await invoke(installH, routes.installPlugin, { token, params: { id: 'orphan-maker' }, body: {} }))
        .status,
    ).toBe(201);
    const { emitEvent } = await import('#test/helpers/lifecycle.ts');
    await emitEvent('user.deleted', 'ws-any', { user_id: 'henry' });
    const left = await db().send(
      new GetCommand({
        TableName: tableName(),
        Key: pluginKeys.installation('ws-henry', 'orphan-maker'),
        ConsistentRead: true,
      }),
    );
    expect(left.Item).toBeUndefined();
  });

  it('reserves the ids that are paths of the API', async () => {
    const res = await invoke(createH, routes.createPlugin, {
      token: h.operator,
      body: { id: 'installed', ...manifest('1.0.0', true) },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].path).toBe('body.id');
  });
});
