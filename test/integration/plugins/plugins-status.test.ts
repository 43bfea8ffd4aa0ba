/**
 * The plugins part of GET /status/workspace: installations by status, moved by real transitions
 * (install, disable and enable, uninstall, a deleted plugin's cascade run by the plugin jobs).
 */
import { describe, expect, it } from 'vitest';
import { handler as deleteH } from '#functions/plugins/delete-plugin.ts';
import { handler as installH } from '#functions/plugins/install-plugin.ts';
import { handler as uninstallH } from '#functions/plugins/uninstall-plugin.ts';
import { handler as configH } from '#functions/plugins/update-plugin-config.ts';
import { routes } from '#functions/routes.ts';
import { handler as getWorkspaceStatus } from '#functions/system/get-workspace-status.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { putPublishedPlugins } from '#test/helpers/plugins.ts';
import { drainPluginJobs, usePluginsHarness } from './plugins-harness.ts';

const h = usePluginsHarness();

const status = async (token: string) => {
  const res = await invoke(getWorkspaceStatus, routes.workspaceStatus, { token });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
};
const view = async () => (await status(h.admin)).features.plugins;
const install = async (token: string, id: string) => {
  const res = await invoke(installH, routes.installPlugin, {
    token,
    params: { id },
    body: { configuration: {}, accepted_permissions: [] },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
};
const enable = (id: string, enabled: boolean) =>
  invoke(configH, routes.updatePluginConfig, { token: h.admin, params: { id }, body: { enabled } });

describe('GET /status/workspace: plugins', () => {
  it('counts installations by status as they are installed, disabled, uninstalled and cascaded', async () => {
    await putPublishedPlugins(['st-one', 'st-two', 'st-three']);
    for (const id of ['st-one', 'st-two', 'st-three']) await install(h.admin, id);
    await install(h.admin2, 'st-three');
    expect(await view()).toEqual({ installations: { ACTIVE: 3 } });

    expect((await enable('st-two', false)).status).toBe(200);
    expect((await enable('st-two', false)).status).toBe(200);
    expect(await view()).toEqual({ installations: { ACTIVE: 2, DISABLED: 1 } });
    expect((await enable('st-two', true)).status).toBe(200);
    expect((await enable('st-one', false)).status).toBe(200);
    expect(await view()).toEqual({ installations: { ACTIVE: 2, DISABLED: 1 } });

    const uninstall = () =>
      invoke(uninstallH, routes.uninstallPlugin, { token: h.admin, params: { id: 'st-one' } });
    expect((await uninstall()).status).toBe(204);
    expect((await uninstall()).status).toBe(404);
    expect(await view()).toEqual({ installations: { ACTIVE: 2, DISABLED: 0 } });

    // An operator deletes st-three: its cascade removes the installations of both workspaces.
    expect((await status(h.operator)).service.features.plugins).toEqual({
      installations: { ACTIVE: 3, DISABLED: 0 },
    });
    const del = await invoke(deleteH, routes.deletePlugin, { token: h.operator, params: { id: 'st-three' } });
    expect(del.status, JSON.stringify(del.body)).toBe(202);
    await drainPluginJobs();
    expect(await view()).toEqual({ installations: { ACTIVE: 1, DISABLED: 0 } });
    expect((await status(h.admin2)).features.plugins).toEqual({ installations: { ACTIVE: 0 } });
    expect((await status(h.operator)).service.features.plugins).toEqual({
      installations: { ACTIVE: 1, DISABLED: 0 },
    });
  });
});
