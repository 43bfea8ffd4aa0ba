import { createHash, randomBytes } from 'node:crypto';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { handler as createH } from '#functions/plugins/create-plugin.ts';
import { handler as createVersionH } from '#functions/plugins/create-plugin-version.ts';
import { handler as deleteH } from '#functions/plugins/delete-plugin.ts';
import { handler as getH } from '#functions/plugins/get-plugin.ts';
import { handler as installH } from '#functions/plugins/install-plugin.ts';
import { handler as listInstalledH } from '#functions/plugins/list-installed-plugins.ts';
import { handler as versionsH } from '#functions/plugins/list-plugin-versions.ts';
import { handler as publishH } from '#functions/plugins/publish-plugin-version.ts';
import { handler as upgradeH } from '#functions/plugins/upgrade-plugin.ts';
import { routes } from '#functions/routes.ts';
import { handler as createTokenH } from '#functions/tokens/create-token.ts';
import { bucketName, headObject } from '#shared/objects.ts';
import { sqs } from '#shared/queues.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { drainPluginJobs, raisedEvents, usePluginsHarness } from './plugins-harness.ts';

const h = usePluginsHarness();

const pkg = (n = 2048) => randomBytes(n);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function manifest(version: string, body: Uint8Array, extra: Record<string, unknown> = {}) {
  return {
    name: 'Sprint Board',
    version,
    description: 'A sprint board panel for projects.',
    author: 'Acme Plugins',
    category: 'productivity',
    package: { size_bytes: body.length, sha256: sha(body) },
    configuration: {
      type: 'object',
      properties: { columns: { type: 'integer', minimum: 2, maximum: 8, default: 4 } },
    },
    ...extra,
  };
}

/** POSTs the package with the presigned form, as a publisher's tool would. */
async function upload(form: { url: string; fields: Record<string, string> }, body: Uint8Array) {
  const data = new FormData();
  for (const [k, v] of Object.entries(form.fields)) data.append(k, v);
  data.append('file', new Blob([body]));
  const res = await fetch(form.url, { method: 'POST', body: data });
  expect(res.status).toBeLessThan(300);
}

const publish = (token: string, id: string, version: string) =>
  invoke(publishH, routes.publishPluginVersion, { token, params: { id, version } });
const newVersion = (id: string, body: unknown) =>
  invoke(createVersionH, routes.createPluginVersion, { token: h.operator, params: { id }, body });
const installedIn = async (token: string, id: string) =>
  (await invoke(listInstalledH, routes.listInstalledPlugins, { token })).body.data.find(
    (i: { plugin_id: string }) => i.plugin_id === id,
  );

describe('publishing', () => {
  it('is for operators only', async () => {
    const body = pkg();
    const res = await invoke(createH, routes.createPlugin, {
      token: h.admin,
      body: { id: 'not-allowed', ...manifest('1.0.0', body) },
    });
    expect(res.status).toBe(403);
    expect(res.body.required_role).toBe('operator');
  });

  it('drafts, uploads, checks and publishes; then installations follow versions', async () => {
    const v1 = pkg();
    const draft = await invoke(createH, routes.createPlugin, {
      token: h.operator,
      body: { id: 'sprint-board', ...manifest('1.0.0', v1) },
    });
    expect(draft.status).toBe(201);
    expect(draft.body.plugin).toMatchObject({ id: 'sprint-board', status: 'DRAFT', version: null });
    expect(draft.body.upload).toMatchObject({ method: 'POST', max_bytes: v1.length });
    // A draft is no one's but the operators'.
    expect(
      (await invoke(getH, routes.getPlugin, { token: h.admin, params: { id: 'sprint-board' } })).status,
    ).toBe(404);

    // Nothing uploaded yet: 409.
    const early = await publish(h.operator, 'sprint-board', '1.0.0');
    expect(early.status).toBe(409);
    expect(early.body.reason).toBe('package_missing');

    // A package other than the declared one: refused, the version stays unpublished.
    await upload(draft.body.upload, pkg(v1.length));
    const wrongHash = await publish(h.operator, 'sprint-board', '1.0.0');
    expect(wrongHash.status).toBe(400);
    expect(wrongHash.body.reason).toBe('package_checksum_mismatch');
    await upload(draft.body.upload, Buffer.concat([v1, Buffer.from('x')]));
    const tooBig = await publish(h.operator, 'sprint-board', '1.0.0');
    expect(tooBig.status).toBe(400);
    expect(tooBig.body.reason).toBe('package_size_mismatch');

    await upload(draft.body.upload, v1);
    const ok = await publish(h.operator, 'sprint-board', '1.0.0');
    expect(ok.status).toBe(200);
    expect(ok.body.plugin).toMatchObject({ status: 'PUBLISHED', version: '1.0.0' });
    expect(await headObject(bucketName('packages'), 'packages/sprint-board/1.0.0')).toMatchObject({
      size: v1.length,
    });

    // Two workspaces install it.
    for (const [token, columns] of [
      [h.admin, 6],
      [h.admin2, 4],
    ] as const) {
      const res = await invoke(installH, routes.installPlugin, {
        token,
        params: { id: 'sprint-board' },
        body: { configuration: { columns } },
      });
      expect(res.status).toBe(201);
    }
    await raisedEvents();

    // Not newer than the published version: 409.
    expect((await newVersion('sprint-board', manifest('1.0.0', v1))).status).toBe(409);

    // 1.1.0 needs no new permission and adds a setting with a default: installations follow it.
    const v11 = pkg();
    const schema11 = {
      type: 'object',
      properties: {
        columns: { type: 'integer', minimum: 2, maximum: 8, default: 4 },
        swimlanes: { type: 'boolean', default: true },
      },
    };
    const created11 = await newVersion('sprint-board', manifest('1.1.0', v11, { configuration: schema11 }));
    expect(created11.status).toBe(201);
    await upload(created11.body.upload, v11);
    expect((await publish(h.operator, 'sprint-board', '1.1.0')).status).toBe(200);
    // The rollout runs now and again later (installs the lagging index did not show yet).
    const attrs = await sqs().send(
      new GetQueueAttributesCommand({
        QueueUrl: process.env.PLUGIN_JOBS_QUEUE_URL,
        AttributeNames: ['ApproximateNumberOfMessagesDelayed'],
      }),
    );
    expect(Number(attrs.Attributes?.ApproximateNumberOfMessagesDelayed)).toBeGreaterThanOrEqual(1);
    await drainPluginJobs();
    expect(await installedIn(h.admin, 'sprint-board')).toMatchObject({
      installed_version: '1.1.0',
      status: 'ACTIVE',
      configuration: { columns: 6, swimlanes: true },
    });
    const upgraded = (await raisedEvents()).filter((e) => e.type === 'plugin.upgraded');
    expect(upgraded.map((e) => e.workspace_id).sort()).toEqual(['ws1', 'ws2']);

    // 1.2.0 narrows `columns` to at most 5: ws1's 6 no longer fits, so it stays on 1.1.0 as FAILED.
    const v12 = pkg();
    const schema12 = {
      type: 'object',
      properties: {
        columns: { type: 'integer', minimum: 2, maximum: 5, default: 4 },
        swimlanes: { type: 'boolean', default: true },
      },
    };
    const created12 = await newVersion('sprint-board', manifest('1.2.0', v12, { configuration: schema12 }));
    await upload(created12.body.upload, v12);
    expect((await publish(h.operator, 'sprint-board', '1.2.0')).status).toBe(200);
    await drainPluginJobs();
    const failed = await installedIn(h.admin, 'sprint-board');
    expect(failed).toMatchObject({
      installed_version: '1.1.0',
      pending_version: '1.2.0',
      status: 'FAILED',
      configuration: { columns: 6, swimlanes: true },
    });
    expect(failed.error).toContain('columns');
    expect((await raisedEvents()).map((e) => e.type)).toContain('plugin.install_failed');
    // The admin fixes it while upgrading.
    const fixed = await invoke(upgradeH, routes.upgradePlugin, {
      token: h.admin,
      params: { id: 'sprint-board' },
      body: { configuration: { columns: 5 } },
    });
    expect(fixed.status).toBe(200);
    expect(fixed.body).toMatchObject({
      installed_version: '1.2.0',
      status: 'ACTIVE',
      error: null,
      pending_version: null,
    });

    // 2.0.0 requires a new permission: installations wait on 1.2.0 for an admin.
    const v2 = pkg();
    const created2 = await newVersion(
      'sprint-board',
      manifest('2.0.0', v2, {
        permissions: { required: ['ui:panel'], optional: [] },
        configuration: schema12,
      }),
    );
    await upload(created2.body.upload, v2);
    expect((await publish(h.operator, 'sprint-board', '2.0.0')).status).toBe(200);
    await drainPluginJobs();
    expect(await installedIn(h.admin2, 'sprint-board')).toMatchObject({
      installed_version: '1.2.0',
      pending_version: '2.0.0',
      pending_permissions: ['ui:panel'],
      status: 'UPGRADE_PENDING',
    });
    const refused = await invoke(upgradeH, routes.upgradePlugin, {
      token: h.admin2,
      params: { id: 'sprint-board' },
      body: {},
    });
    expect(refused.status).toBe(403);
    expect(refused.body.missing_permissions).toEqual(['ui:panel']);
    const accepted = await invoke(upgradeH, routes.upgradePlugin, {
      token: h.admin2,
      params: { id: 'sprint-board' },
      body: { accepted_permissions: ['ui:panel'] },
    });
    expect(accepted.body).toMatchObject({
      installed_version: '2.0.0',
      status: 'ACTIVE',
      accepted_permissions: ['ui:panel'],
    });

    // The versions, newest first.
    const versions = await invoke(versionsH, routes.listPluginVersions, {
      token: h.member,
      params: { id: 'sprint-board' },
    });
    expect(versions.body.data.map((v: { version: string }) => v.version)).toEqual([
      '2.0.0',
      '1.2.0',
      '1.1.0',
      '1.0.0',
    ]);

    // Deleting the plugin uninstalls it everywhere, then removes it.
    expect(
      (await invoke(deleteH, routes.deletePlugin, { token: h.admin, params: { id: 'sprint-board' } })).status,
    ).toBe(403);
    const del = await invoke(deleteH, routes.deletePlugin, {
      token: h.operator,
      params: { id: 'sprint-board' },
    });
    expect(del.status).toBe(202);
    expect(
      (
        await invoke(installH, routes.installPlugin, {
          token: h.admin,
          params: { id: 'sprint-board' },
          body: {},
        })
      ).status,
    ).toBe(404);
    await drainPluginJobs();
    expect(await installedIn(h.admin, 'sprint-board')).toBeUndefined();
    expect(await installedIn(h.admin2, 'sprint-board')).toBeUndefined();
    expect(
      (await invoke(getH, routes.getPlugin, { token: h.operator, params: { id: 'sprint-board' } })).status,
    ).toBe(404);
    expect(await headObject(bucketName('packages'), 'packages/sprint-board/1.0.0')).toBeUndefined();
    const uninstalled = (await raisedEvents()).filter((e) => e.type === 'plugin.uninstalled');
    expect(uninstalled.map((e) => [e.workspace_id, e.data.reason]).sort()).toEqual([
      ['ws1', 'plugin_deleted'],
      ['ws2', 'plugin_deleted'],
    ]);
  });

  it('refuses manifests beyond the limits with one error per field', async () => {
    const res = await invoke(createH, routes.createPlugin, {
      token: h.operator,
      body: {
        id: 'too-big',
        ...manifest('1.0.0', pkg(10)),
        package: { size_bytes: 51 * 1024 * 1024, sha256: 'a'.repeat(64) },
        execution_timeout_seconds: 31,
      },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { path: string }) => e.path).sort()).toEqual([
      'body.execution_timeout_seconds',
      'body.package.size_bytes',
    ]);
    const bad = await invoke(createH, routes.createPlugin, {
      token: h.operator,
      body: { id: 'Bad Id', ...manifest('1.0', pkg(10)), permissions: { required: ['root:everything'] } },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path)).toEqual(
      expect.arrayContaining(['body.id', 'body.version', 'body.permissions.required.0']),
    );
  });

  it("accepts an admin:plugins token an operator created, not a workspace admin's", async () => {
    const mint = async (session: string) =>
      (
        await invoke(createTokenH, routes.createToken, {
          token: session,
          body: { name: 'publisher', scopes: ['admin:plugins'] },
        })
      ).body.token as string;
    const opsToken = await mint(h.operator);
    const adminToken = await mint(h.admin);
    const body = pkg(64);
    const byOps = await invoke(createH, routes.createPlugin, {
      token: opsToken,
      body: { id: 'token-made', ...manifest('1.0.0', body) },
    });
    expect(byOps.status).toBe(201);
    const byAdmin = await invoke(createH, routes.createPlugin, {
      token: adminToken,
      body: { id: 'token-made-2', ...manifest('1.0.0', body) },
    });
    expect(byAdmin.status).toBe(403);
  });
});
