import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { handler as installH } from '#functions/plugins/install-plugin.ts';
import { routes } from '#functions/routes.ts';
import { db, tableName } from '#shared/db/client.ts';
import { pluginKeys } from '#shared/plugins/keys.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { putPublishedPlugins } from '#test/helpers/plugins.ts';
import { usePluginsHarness } from './plugins-harness.ts';

const h = usePluginsHarness();
const N = 150;
const ids = Array.from({ length: N }, (_, i) => `cap-plugin-${String(i).padStart(3, '0')}`);

beforeAll(async () => {
  await putPublishedPlugins(ids);
});

describe('the per-workspace install limit', () => {
  it(`holds under ${N} concurrent installs into one workspace: exactly the limit succeed`, async () => {
    const limit = 100;
    const results = await Promise.all(
      ids.map((id) => invoke(installH, routes.installPlugin, { token: h.admin, params: { id }, body: {} })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(limit);
    expect(statuses.filter((s) => s === 409)).toHaveLength(N - limit);
    expect(
      results.filter((r) => r.status === 409).every((r) => r.body.reason === 'workspace_plugin_limit'),
    ).toBe(true);
    const count = await db().send(
      new GetCommand({ TableName: tableName(), Key: pluginKeys.installCount('ws1') }),
    );
    expect(count.Item?.count).toBe(limit);
  }, 120_000);
});
