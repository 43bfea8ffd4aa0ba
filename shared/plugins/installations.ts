/**
 * Installations: install (workspace admins, permissions accepted, configuration validated, at most
 * PLUGIN_MAX_INSTALLABLE_PER_WORKSPACE per workspace, atomically), list, reconfigure, enable or
 * disable, upgrade, uninstall. Every write is one transaction conditional on what it read, so
 * nothing is written half-way and concurrent writes cannot overwrite each other. Secret fields of
 * a configuration are sealed in the installation item: uninstalling deletes them with it.
 */
import { BatchGetCommand, type BatchGetCommandOutput } from '@aws-sdk/lib-dynamodb';
import { type AuditInput, writeAudited } from '#shared/audit/log.ts';
import { config } from '#shared/config.ts';
import { addServiceCounters, counterTransactItems } from '#shared/counters.ts';
import { decrypt, encrypt } from '#shared/crypto.ts';
import { db, tableName } from '#shared/db/client.ts';
import { conditionFailedAt } from '#shared/db/conditions.ts';
import { queryPage } from '#shared/db/pagination.ts';
import type { TransactItem } from '#shared/db/transact.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '#shared/errors.ts';
import type { Caller } from '#shared/http/caller.ts';
import type { Page, PageQuery } from '#shared/http/common-params.ts';
import { logger } from '#shared/logger.ts';
import { metrics } from '#shared/metrics.ts';
import { installationAudit } from './audit.ts';
import {
  type ConfigSchema,
  mergeConfiguration,
  splitSecrets,
  validateConfiguration,
} from './config-schema.ts';
import { installationMove } from './counters.ts';
import { publishPluginEvent } from './events.ts';
import { pluginKeys } from './keys.ts';
import { missingPermissions } from './permissions.ts';
import type { InstallationView } from './schemas.ts';
import {
  findInstallation,
  findPluginAndInstallation,
  findVersion,
  getInstallation,
  getVisiblePlugin,
  type InstallationItem,
  type InstallationStatus,
  type PluginItem,
} from './store.ts';
import { toInstallationView } from './views.ts';

/**
 * The workspace a request acts in: the credential's. A `workspace_id` in the body or query must
 * name it (a session of several workspaces picks one with `X-Workspace-Id`).
 */
export function actingWorkspace(caller: Caller, named: string | undefined, path: string): string {
  if (named !== undefined && named !== caller.workspaceId) {
    throw new ValidationError(`This request acts in workspace '${caller.workspaceId}', not '${named}'.`, [
      {
        path,
        message: 'Must be the workspace the request acts in (choose it with the X-Workspace-Id header)',
      },
    ]);
  }
  return caller.workspaceId;
}

/** The AAD an installation's secrets are sealed with: they open for that installation only. */
export const secretsAad = (workspaceId: string, pluginId: string) => `plugininst:${workspaceId}:${pluginId}`;

/** The status an installation shows: disabled wins, then a failure, then an upgrade waiting for an admin. */
export function statusOf(
  i: Pick<InstallationItem, 'enabled' | 'error' | 'pending_version'>,
): InstallationStatus {
  if (!i.enabled) return 'DISABLED';
  if (i.error) return 'FAILED';
  return i.pending_version ? 'UPGRADE_PENDING' : 'ACTIVE';
}

/** The full configuration of an installation (its secret fields unsealed): server side only. */
export async function fullConfiguration(i: InstallationItem): Promise<Record<string, unknown>> {
  if (!i.secrets_sealed) return { ...i.configuration };
  const secrets = JSON.parse(
    await decrypt(i.secrets_sealed, secretsAad(i.workspace_id, i.plugin_id)),
  ) as Record<string, unknown>;
  return { ...i.configuration, ...secrets };
}

/** What an installation stores of a validated configuration: the plain part, the sealed secrets and their names. */
export async function storedConfiguration(
  schema: ConfigSchema,
  value: Record<string, unknown>,
  workspaceId: string,
  pluginId: string,
): Promise<Pick<InstallationItem, 'configuration' | 'secrets_sealed' | 'secret_keys'>> {
  const { plain, secrets } = splitSecrets(schema, value);
  const names = Object.keys(secrets);
  return {
    configuration: plain,
    secrets_sealed: names.length
      ? await encrypt(JSON.stringify(secrets), secretsAad(workspaceId, pluginId))
      : undefined,
    secret_keys: names,
  };
}

function validated(schema: ConfigSchema, value: unknown, prefix: string): Record<string, unknown> {
  const result = validateConfiguration(schema, value, prefix);
  if (!result.ok)
    throw new ValidationError("The configuration does not fit the plugin's schema.", result.errors);
  return result.value;
}

/** Condition: the installation is still at the revision read. */
function atRevision(i: InstallationItem) {
  return {
    ConditionExpression: 'revision = :rev',
    ExpressionAttributeValues: { ':rev': i.revision },
  };
}

/**
 * Writes an installation item as a whole (Put), conditional on its revision, with its audit entry:
 * 409 when it moved.
 */
async function replaceInstallation(
  prev: InstallationItem,
  next: InstallationItem,
  audit: AuditInput,
): Promise<void> {
  const counted = installationMove(prev, next);
  try {
    await writeAudited([audit], () => [
      { Put: { TableName: tableName(), Item: next, ...atRevision(prev) } },
      ...counterTransactItems(next.workspace_id, counted),
    ]);
  } catch (err) {
    if (conditionFailedAt(err, 0)) {
      throw new ConflictError('The installation changed while this request ran; read it and try again.');
    }
    throw err;
  }
  await addServiceCounters(counted);
}

const clean = (i: InstallationItem): InstallationItem =>
  Object.fromEntries(Object.entries(i).filter(([, v]) => v !== undefined)) as InstallationItem;

/** `POST /plugins/{id}/install`. */
export async function install(
  caller: Caller,
  pluginId: string,
  body: { workspace_id?: string; configuration: Record<string, unknown>; accepted_permissions: string[] },
  now = new Date(),
): Promise<InstallationView> {
  const workspaceId = actingWorkspace(caller, body.workspace_id, 'body.workspace_id');
  for (let attempt = 0; ; attempt++) {
    const plugin = await getVisiblePlugin(pluginId, false, true);
    const m = plugin.manifest;
    const missing = missingPermissions(m.permissions.required, body.accepted_permissions);
    if (missing.length) {
      throw new ForbiddenError(
        `Accept every permission '${pluginId}' requires to install it; missing: ${missing.join(', ')}.`,
        { extra: { missing_permissions: missing } },
      );
    }
    const value = validated(m.configuration, body.configuration, 'body.configuration');
    const declared = new Set<string>([...m.permissions.required, ...m.permissions.optional]);
    const at = now.toISOString();
    const item: InstallationItem = clean({
      ...pluginKeys.installation(workspaceId, pluginId),
      ...pluginKeys.installationOfPlugin(pluginId, workspaceId),
      entity: 'PluginInstallation',
      plugin_id: pluginId,
      workspace_id: workspaceId,
      version: plugin.current_version as string,
      status: 'ACTIVE',
      accepted_permissions: body.accepted_permissions.filter((p) => declared.has(p)).sort(),
      ...(await storedConfiguration(m.configuration, value, workspaceId, pluginId)),
      enabled: true,
      installed_by: caller.userId,
      // The installer, as the byUser index knows users: a deleted user's installations are found by it.
      user_id: caller.userId,
      installed_at: at,
      updated_by: caller.userId,
      updated_at: at,
      revision: 1,
    });
    const max = config().PLUGIN_MAX_INSTALLABLE_PER_WORKSPACE;
    const counted = installationMove(null, item);
    const items: TransactItem[] = [
      { Put: { TableName: tableName(), Item: item, ConditionExpression: 'attribute_not_exists(pk)' } },
      {
        Update: {
          TableName: tableName(),
          Key: pluginKeys.installCount(workspaceId),
          UpdateExpression: 'SET entity = :e ADD #n :one',
          ConditionExpression: 'attribute_not_exists(#n) OR #n < :max',
          ExpressionAttributeNames: { '#n': 'count' },
          ExpressionAttributeValues: { ':e': 'PluginInstallCount', ':one': 1, ':max': max },
        },
      },
      {
        Update: {
          TableName: tableName(),
          Key: pluginKeys.plugin(pluginId),
          UpdateExpression: 'ADD install_count :one',
          ConditionExpression: '#s = :published AND current_version = :v',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':one': 1, ':published': 'PUBLISHED', ':v': plugin.current_version },
        },
      },
      ...counterTransactItems(workspaceId, counted),
    ];
    try {
      // Many installs into one workspace race on its count (and an admin's on their trail):
      // conflicts are retried with backoff.
      await writeAudited([installationAudit('plugin.installed', caller, null, item)], () => items, {
        attempts: 30,
      });
    } catch (err) {
      if (conditionFailedAt(err, 0)) {
        throw new ConflictError(`Plugin '${pluginId}' is already installed in this workspace.`, {
          extra: { reason: 'already_installed' },
        });
      }
      if (conditionFailedAt(err, 1)) {
        throw new ConflictError(`A workspace can install at most ${max} plugins; uninstall one first.`, {
          extra: { reason: 'workspace_plugin_limit', limit: max },
        });
      }
      // A new version was published (or the plugin deleted) meanwhile: judge the install against it.
      if (conditionFailedAt(err, 2) && attempt < 2) continue;
      throw err;
    }
    await addServiceCounters(counted);
    metrics.count('PluginInstalls', 1, { outcome: 'installed' });
    await publishPluginEvent('plugin.installed', item, { installed_by: caller.userId });
    return toInstallationView(item, plugin);
  }
}

/** `GET /plugins/installed`: the workspace's installations, by plugin id. */
export async function listInstalled(
  caller: Caller,
  query: PageQuery & { workspace_id?: string },
): Promise<Page<InstallationView>> {
  const workspaceId = actingWorkspace(caller, query.workspace_id, 'query.workspace_id');
  const pk = pluginKeys.workspacePartition(workspaceId);
  const page = await queryPage(
    {
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': pk, ':prefix': pluginKeys.installationPrefix },
    },
    {
      scope: { list: 'plugin-installations', key: { pk, sk: { prefix: pluginKeys.installationPrefix } } },
      limit: query.limit,
      cursor: query.cursor,
    },
  );
  const items = page.items as unknown as InstallationItem[];
  const plugins = await pluginsById(items.map((i) => i.plugin_id));
  return {
    data: items.map((i) => toInstallationView(i, plugins.get(i.plugin_id))),
    next_cursor: page.next_cursor,
  };
}

/** The plugin items of `ids` (one BatchGet per 100, unprocessed keys read again). */
async function pluginsById(ids: string[]): Promise<Map<string, PluginItem>> {
  const out = new Map<string, PluginItem>();
  const unique = [...new Set(ids)];
  for (let i = 0; i < unique.length; i += 100) {
    let keys: Record<string, unknown>[] | undefined = unique
      .slice(i, i + 100)
      .map((id) => pluginKeys.plugin(id));
    for (let round = 0; keys?.length && round < 5; round++) {
      const res: BatchGetCommandOutput = await db().send(
        new BatchGetCommand({ RequestItems: { [tableName()]: { Keys: keys } } }),
      );
      for (const p of (res.Responses?.[tableName()] ?? []) as PluginItem[]) out.set(p.id, p);
      keys = res.UnprocessedKeys?.[tableName()]?.Keys;
    }
  }
  return out;
}

/** The configuration schema of the version an installation runs. */
async function schemaOf(pluginId: string, version: string): Promise<ConfigSchema> {
  const v = await findVersion(pluginId, version);
  if (!v) throw new NotFoundError(`Version ${version} of plugin '${pluginId}' is gone.`);
  return v.manifest.configuration;
}

/** `PATCH /plugins/{id}/config`: merge-patches the configuration and/or enables or disables it. */
export async function updateConfiguration(
  caller: Caller,
  pluginId: string,
  body: { workspace_id?: string; configuration?: Record<string, unknown>; enabled?: boolean },
  now = new Date(),
): Promise<InstallationView> {
  const workspaceId = actingWorkspace(caller, body.workspace_id, 'body.workspace_id');
  const { plugin, installation } = await findPluginAndInstallation(workspaceId, pluginId);
  if (!installation)
    throw new NotFoundError(`Plugin '${pluginId}' is not installed in workspace '${workspaceId}'.`);
  let next: InstallationItem = { ...installation };
  if (body.configuration !== undefined) {
    const schema = await schemaOf(pluginId, installation.version);
    const merged = mergeConfiguration(schema, await fullConfiguration(installation), body.configuration);
    const value = validated(schema, merged, 'body.configuration');
    next = { ...next, ...(await storedConfiguration(schema, value, workspaceId, pluginId)) };
  }
  if (body.enabled !== undefined) next.enabled = body.enabled;
  next = clean({
    ...next,
    status: statusOf(next),
    updated_by: caller.userId,
    updated_at: now.toISOString(),
    revision: installation.revision + 1,
  });
  await replaceInstallation(
    installation,
    next,
    installationAudit('plugin.configured', caller, installation, next),
  );
  return toInstallationView(next, plugin);
}

/**
 * `POST /plugins/{id}/upgrade`: moves the installation to the current version, with the new
 * permissions accepted and the configuration (merge-patched) valid for the new schema.
 */
export async function upgrade(
  caller: Caller,
  pluginId: string,
  body: { workspace_id?: string; accepted_permissions: string[]; configuration?: Record<string, unknown> },
  now = new Date(),
): Promise<InstallationView> {
  const workspaceId = actingWorkspace(caller, body.workspace_id, 'body.workspace_id');
  const installation = await getInstallation(workspaceId, pluginId);
  const plugin = await getVisiblePlugin(pluginId, false, true);
  const target = plugin.current_version as string;
  const m = plugin.manifest;
  const declaredNow = [...m.permissions.required, ...m.permissions.optional];
  const addsPermission = body.accepted_permissions.some(
    (p) => declaredNow.includes(p as never) && !installation.accepted_permissions.includes(p),
  );
  if (
    installation.version === target &&
    !installation.pending_version &&
    body.configuration === undefined &&
    !addsPermission
  ) {
    return toInstallationView(installation, plugin);
  }
  const accepted = [...new Set([...installation.accepted_permissions, ...body.accepted_permissions])];
  const missing = missingPermissions(m.permissions.required, accepted);
  if (missing.length) {
    throw new ForbiddenError(
      `Accept the permissions version ${target} of '${pluginId}' requires to upgrade; missing: ${missing.join(', ')}.`,
      { extra: { missing_permissions: missing } },
    );
  }
  const current = await fullConfiguration(installation);
  // Keys the new schema no longer declares are dropped; the patch applies on top.
  const kept = Object.fromEntries(
    Object.entries(current).filter(([k]) => Object.hasOwn(m.configuration.properties, k)),
  );
  const merged = body.configuration ? mergeConfiguration(m.configuration, kept, body.configuration) : kept;
  const value = validated(m.configuration, merged, 'body.configuration');
  const declared = new Set<string>([...m.permissions.required, ...m.permissions.optional]);
  const from = installation.version;
  const next = clean({
    ...installation,
    version: target,
    accepted_permissions: accepted.filter((p) => declared.has(p)).sort(),
    ...(await storedConfiguration(m.configuration, value, workspaceId, pluginId)),
    error: undefined,
    pending_version: undefined,
    pending_permissions: undefined,
    updated_by: caller.userId,
    updated_at: now.toISOString(),
    revision: installation.revision + 1,
  });
  next.status = statusOf(next);
  await replaceInstallation(
    installation,
    next,
    installationAudit('plugin.upgraded', caller, installation, next),
  );
  if (from !== target) {
    await publishPluginEvent('plugin.upgraded', next, {
      from_version: from,
      upgraded_by: caller.userId,
      automatic: false,
    });
  }
  return toInstallationView(next, plugin);
}

/**
 * Deletes an installation (with its configuration and sealed secrets) and frees its slot in the
 * workspace (and, unless the plugin is being deleted, its count on the plugin). False when there
 * was none.
 */
export async function removeInstallation(
  read: InstallationItem,
  opts: { countOnPlugin: boolean; by: Caller | { system: string } },
): Promise<boolean> {
  // The delete is conditional on the status read (the status view counts it out of that one): a
  // change in between makes it read the installation again.
  let i = read;
  for (let round = 0; ; round++) {
    const outcome = await removeAt(i, opts);
    if (outcome !== 'moved') return outcome === 'removed';
    const current = await findInstallation(i.workspace_id, i.plugin_id);
    if (!current) return false;
    if (round >= 5)
      throw new ConflictError('The installation kept changing while it was being removed; try again.');
    i = current;
  }
}

async function removeAt(
  i: InstallationItem,
  opts: { countOnPlugin: boolean; by: Caller | { system: string } },
): Promise<'removed' | 'gone' | 'moved'> {
  const audits = [installationAudit('plugin.uninstalled', opts.by, i, null)];
  const remove: TransactItem = {
    Delete: {
      TableName: tableName(),
      Key: pluginKeys.installation(i.workspace_id, i.plugin_id),
      ConditionExpression: 'attribute_exists(pk) AND #s = :s',
      ExpressionAttributeNames: { '#s': 'status' },
      ExpressionAttributeValues: { ':s': i.status },
    },
  };
  const counted = installationMove(i, null);
  const counters: TransactItem[] = [
    {
      Update: {
        TableName: tableName(),
        Key: pluginKeys.installCount(i.workspace_id),
        UpdateExpression: 'ADD #n :minus',
        ConditionExpression: 'attribute_exists(#n) AND #n > :zero',
        ExpressionAttributeNames: { '#n': 'count' },
        ExpressionAttributeValues: { ':minus': -1, ':zero': 0 },
      },
    },
    ...(opts.countOnPlugin
      ? [
          {
            Update: {
              TableName: tableName(),
              Key: pluginKeys.plugin(i.plugin_id),
              UpdateExpression: 'ADD install_count :minus',
              ConditionExpression: 'attribute_exists(pk)',
              ExpressionAttributeValues: { ':minus': -1 },
            },
          },
        ]
      : []),
  ];
  // A counter that cannot go down (never written, or its plugin is gone) is left out and the rest
  // tried again: the installation and every counter that can move go together.
  let kept = counters;
  for (let attempt = 0; attempt <= counters.length; attempt++) {
    try {
      await writeAudited(audits, () => [remove, ...kept, ...counterTransactItems(i.workspace_id, counted)], {
        attempts: 30,
      });
      if (kept.length < counters.length) {
        logger.warn('plugin installation removed without some of its counters', { plugin_id: i.plugin_id });
      }
      await addServiceCounters(counted);
      return 'removed';
    } catch (err) {
      if (conditionFailedAt(err, 0)) return 'moved';
      const failed = kept.filter((_, n) => conditionFailedAt(err, n + 1));
      if (!failed.length) throw err;
      kept = kept.filter((c) => !failed.includes(c));
    }
  }
  throw new Error('unreachable: every counter was left out');
}

/** `DELETE /plugins/{id}/uninstall`: removes the installation with its configuration and secrets. */
export async function uninstall(caller: Caller, pluginId: string, named: string | undefined): Promise<void> {
  const workspaceId = actingWorkspace(caller, named, 'query.workspace_id');
  const installation = await getInstallation(workspaceId, pluginId);
  const removed = await removeInstallation(installation, { countOnPlugin: true, by: caller });
  if (!removed)
    throw new NotFoundError(`Plugin '${pluginId}' is not installed in workspace '${workspaceId}'.`);
  await publishPluginEvent('plugin.uninstalled', installation, {
    uninstalled_by: caller.userId,
    reason: 'uninstalled',
  });
}
