import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { handler as getH } from '#functions/plugins/get-plugin.ts';
import { handler as installH } from '#functions/plugins/install-plugin.ts';
import { handler as listInstalledH } from '#functions/plugins/list-installed-plugins.ts';
import { handler as listH } from '#functions/plugins/list-plugins.ts';
import { handler as uninstallH } from '#functions/plugins/uninstall-plugin.ts';
import { handler as configH } from '#functions/plugins/update-plugin-config.ts';
import { routes } from '#functions/routes.ts';
import { db, tableName } from '#shared/db/client.ts';
import { seedCatalog } from '#shared/plugins/seed.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { raisedEvents, usePluginsHarness } from './plugins-harness.ts';

const h = usePluginsHarness();
beforeAll(async () => {
  await seedCatalog();
});

const install = (token: string, id: string, body: unknown) =>
  invoke(installH, routes.installPlugin, { token, params: { id }, body });
const scan = async () => (await db().send(new ScanCommand({ TableName: tableName() }))).Items ?? [];
/** What the marketplace stored (authentication writes rate-limit counters of its own). */
const pluginItems = async () => (await scan()).filter((i) => String(i.entity).startsWith('Plugin'));

describe('the seeded catalog', () => {
  it('lists the seeds, searches, filters by category and sorts', async () => {
    const all = await invoke(listH, routes.listPlugins, { token: h.member });
    expect(all.status).toBe(200);
    expect(all.body.data.map((p: { id: string }) => p.id)).toEqual([
      'github-links',
      'markdown-editor',
      'time-tracker',
    ]);
    const md = all.body.data[1];
    expect(md).toMatchObject({
      name: 'Markdown Editor',
      version: '1.0.0',
      status: 'PUBLISHED',
      category: 'editor',
      install_count: 0,
      package: { size_bytes: expect.any(Number), sha256: expect.stringMatching(/^[a-f0-9]{64}$/) },
    });
    const search = await invoke(listH, routes.listPlugins, { token: h.member, query: { q: 'github pull' } });
    expect(search.body.data.map((p: { id: string }) => p.id)).toEqual(['github-links']);
    const cat = await invoke(listH, routes.listPlugins, {
      token: h.member,
      query: { category: 'productivity' },
    });
    expect(cat.body.data.map((p: { id: string }) => p.id)).toEqual(['time-tracker']);
    const paged = await invoke(listH, routes.listPlugins, { token: h.member, query: { limit: '2' } });
    expect(paged.body.data).toHaveLength(2);
    const next = await invoke(listH, routes.listPlugins, {
      token: h.member,
      query: { limit: '2', cursor: paged.body.next_cursor },
    });
    expect(next.body.data.map((p: { id: string }) => p.id)).toEqual(['time-tracker']);
    expect(next.body.next_cursor).toBeNull();
    // A cursor of one ordering is no cursor of another.
    const mixed = await invoke(listH, routes.listPlugins, {
      token: h.member,
      query: { limit: '2', sort: 'installs', cursor: paged.body.next_cursor },
    });
    expect(mixed.status).toBe(400);
  });

  it('seeding again adds nothing', async () => {
    expect((await seedCatalog()).seeded).toEqual([]);
  });

  it('answers 404 for an unknown plugin', async () => {
    const res = await invoke(getH, routes.getPlugin, { token: h.member, params: { id: 'no-such-plugin' } });
    expect(res.status).toBe(404);
    expect(res.body.status).toBe(404);
    expect((await install(h.admin, 'no-such-plugin', {})).status).toBe(404);
  });
});

describe('POST /plugins/{id}/install', () => {
  it("takes the product spec's request as written", async () => {
    const spec = await h.id.jwt('erin', [{ id: 'ws123', role: 'admin' }]);
    const res = await install(spec, 'markdown-editor', {
      workspace_id: 'ws123',
      configuration: { toolbar: 'full', theme: 'dark' },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      plugin_id: 'markdown-editor',
      workspace_id: 'ws123',
      installed_version: '1.0.0',
      status: 'ACTIVE',
      error: null,
      installed_by: 'erin',
      configuration: { toolbar: 'full', theme: 'dark' },
    });
    const listed = await invoke(listInstalledH, routes.listInstalledPlugins, { token: spec });
    expect(listed.body.data).toHaveLength(1);
    const plugin = await invoke(getH, routes.getPlugin, { token: spec, params: { id: 'markdown-editor' } });
    expect(plugin.body.install_count).toBe(1);
    const events = await raisedEvents();
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'plugin.installed',
        workspace_id: 'ws123',
        data: expect.objectContaining({ plugin_id: 'markdown-editor' }),
      }),
    );
  });

  it('applies defaults, and refuses a second install with 409', async () => {
    const res = await install(h.admin, 'markdown-editor', {});
    expect(res.status).toBe(201);
    expect(res.body.configuration).toEqual({ toolbar: 'basic', theme: 'light' });
    const again = await install(h.admin, 'markdown-editor', {});
    expect(again.status).toBe(409);
    expect(again.body.reason).toBe('already_installed');
  });

  it('answers 400 with one error per field, writing nothing', async () => {
    const before = await pluginItems();
    const res = await install(h.admin2, 'markdown-editor', { configuration: { toolbar: 'huge', colour: 1 } });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { path: string }) => e.path).sort()).toEqual([
      'body.configuration.colour',
      'body.configuration.toolbar',
    ]);
    expect(await pluginItems()).toEqual(before);
  });

  it('answers 403 listing the required permissions not accepted', async () => {
    const res = await install(h.admin, 'github-links', { accepted_permissions: ['tasks:read'] });
    expect(res.status).toBe(403);
    expect(res.body.missing_permissions).toEqual(['network:outbound']);
    const ok = await install(h.admin, 'github-links', {
      accepted_permissions: ['tasks:read', 'network:outbound', 'ui:panel'],
    });
    expect(ok.status).toBe(201);
    expect(ok.body.accepted_permissions).toEqual(['network:outbound', 'tasks:read', 'ui:panel']);
  });

  it('answers 403 to a member, and 400 for a workspace_id the request does not act in', async () => {
    const res = await install(h.member, 'time-tracker', {});
    expect(res.status).toBe(403);
    expect(res.body.required_role).toBe('admin');
    const other = await install(h.admin, 'time-tracker', { workspace_id: 'ws2' });
    expect(other.status).toBe(400);
    expect(other.body.errors[0].path).toBe('body.workspace_id');
  });
});

describe('secret settings', () => {
  it('are sealed at rest, masked on read, kept when sent back masked, and gone with the uninstall', async () => {
    const secret = 'rk_live_0123456789abcdef';
    const perms = ['tasks:read', 'tasks:write'];
    const res = await install(h.admin, 'time-tracker', {
      accepted_permissions: perms,
      configuration: { reporting_api_key: secret },
    });
    expect(res.status).toBe(201);
    expect(res.body.configuration).toEqual({
      week_starts_on: 'monday',
      rounding_minutes: 15,
      reporting_api_key: '********',
    });
    expect(JSON.stringify(await scan())).not.toContain(secret);

    const patched = await invoke(configH, routes.updatePluginConfig, {
      token: h.admin,
      params: { id: 'time-tracker' },
      body: { configuration: { rounding_minutes: 30, reporting_api_key: '********' } },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.configuration).toMatchObject({ rounding_minutes: 30, reporting_api_key: '********' });
    const { fullConfiguration } = await import('#shared/plugins/installations.ts');
    const { findInstallation } = await import('#shared/plugins/store.ts');
    const stored = await findInstallation('ws1', 'time-tracker');
    expect(await fullConfiguration(stored!)).toMatchObject({
      reporting_api_key: secret,
      rounding_minutes: 30,
    });

    const bad = await invoke(configH, routes.updatePluginConfig, {
      token: h.admin,
      params: { id: 'time-tracker' },
      body: { configuration: { rounding_minutes: 90 } },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([
      { path: 'body.configuration.rounding_minutes', message: 'Must be at most 60' },
    ]);

    const disabled = await invoke(configH, routes.updatePluginConfig, {
      token: h.admin,
      params: { id: 'time-tracker' },
      body: { enabled: false },
    });
    expect(disabled.body.status).toBe('DISABLED');

    const gone = await invoke(uninstallH, routes.uninstallPlugin, {
      token: h.admin,
      params: { id: 'time-tracker' },
      query: { workspace_id: 'ws1' },
    });
    expect(gone.status).toBe(204);
    const items = await scan();
    expect(items.find((i) => i.sk === 'PLUGININST#time-tracker' && i.pk === 'WS#ws1')).toBeUndefined();
    const events = (await raisedEvents()).filter((e) => e.type === 'plugin.uninstalled');
    expect(events).toEqual([
      expect.objectContaining({
        workspace_id: 'ws1',
        data: expect.objectContaining({ plugin_id: 'time-tracker' }),
      }),
    ]);
  });

  it("records each install, configuration change and uninstall in the admin's audit trail, without secrets", async () => {
    const { listTrail, verifyTrail } = await import('#shared/audit/log.ts');
    const entries = (await listTrail('ws1', 'alice', { limit: 100 })).data;
    const actions = entries.map((e) => `${e.action} ${e.target.id}`);
    expect(actions).toEqual(
      expect.arrayContaining([
        'plugin.installed ws1/time-tracker',
        'plugin.configured ws1/time-tracker',
        'plugin.uninstalled ws1/time-tracker',
        'plugin.installed ws1/markdown-editor',
      ]),
    );
    expect(JSON.stringify(entries)).not.toContain('rk_live_');
    expect((await verifyTrail('ws1', 'alice')).valid).toBe(true);
  });

  it("another workspace's installation is not found", async () => {
    const patch = await invoke(configH, routes.updatePluginConfig, {
      token: h.admin2,
      params: { id: 'markdown-editor' },
      body: { configuration: { theme: 'dark' } },
    });
    expect(patch.status).toBe(404);
    const del = await invoke(uninstallH, routes.uninstallPlugin, {
      token: h.admin2,
      params: { id: 'markdown-editor' },
    });
    expect(del.status).toBe(404);
    const mine = await invoke(listInstalledH, routes.listInstalledPlugins, { token: h.admin });
    expect(mine.body.data.map((i: { plugin_id: string }) => i.plugin_id)).toContain('markdown-editor');
  });
});
