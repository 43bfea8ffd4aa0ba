/**
 * Background jobs of the marketplace, one page of installations per message, the next page sent
 * as a new message (so thousands of workspaces take many short invocations, and a crash resumes
 * from the last page; every step is idempotent, so a message seen twice is harmless):
 * - `rollout`: a version was published; each installation on an older version moves to it when it
 *   needs no new permission and its configuration fits the new schema (defaults applied), goes to
 *   FAILED with the reason when the configuration does not fit (nothing lost: it stays on its
 *   version with its configuration), or waits as UPGRADE_PENDING for an admin to accept the new
 *   permissions;
 * - `delete`: the plugin was deleted; each installation is removed (configuration and secrets
 *   with it), then the versions, the packages and the plugin itself.
 */
import { DeleteCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import * as v from 'valibot';
import { writeAudited } from '#shared/audit/log.ts';
import { addServiceCounters, counterTransactItems } from '#shared/counters.ts';
import { db, tableName } from '#shared/db/client.ts';
import { conditionFailedAt } from '#shared/db/conditions.ts';
import { queryAll } from '#shared/db/query.ts';
import { logger } from '#shared/logger.ts';
import { metrics } from '#shared/metrics.ts';
import { bucketName, deleteObject } from '#shared/objects.ts';
import { sendJson } from '#shared/queues.ts';
import { check, record } from '#shared/validation.ts';
import { installationAudit } from './audit.ts';
import { revalidate } from './config-schema.ts';
import { installationMove } from './counters.ts';
import { publishPluginEvent } from './events.ts';
import { fullConfiguration, removeInstallation, statusOf, storedConfiguration } from './installations.ts';
import { pluginKeys } from './keys.ts';
import { compareVersions } from './manifest.ts';
import { missingPermissions } from './permissions.ts';
import {
  findInstallation,
  findPlugin,
  findVersion,
  type InstallationItem,
  type VersionItem,
} from './store.ts';

export type PluginJob =
  | { kind: 'rollout'; plugin_id: string; version: string; after?: Record<string, unknown> }
  | { kind: 'delete'; plugin_id: string; after?: Record<string, unknown> };

const key = v.optional(record(v.string(), v.unknown()));
const jobSchema = v.variant('kind', [
  v.object({ kind: v.literal('rollout'), plugin_id: v.string(), version: v.string(), after: key }),
  v.object({ kind: v.literal('delete'), plugin_id: v.string(), after: key }),
]);

/** A job from a message body, or undefined when it is none. */
export function parsePluginJob(body: string): PluginJob | undefined {
  try {
    const parsed = check(jobSchema, JSON.parse(body));
    return parsed.success ? (parsed.data as PluginJob) : undefined;
  } catch {
    return undefined;
  }
}

/** Installations handled per message. */
export const JOB_PAGE_SIZE = 50;

/** One page of a plugin's installations (gsi1, by workspace) after `after`. */
async function installationsPage(pluginId: string, after: Record<string, unknown> | undefined) {
  const out = await db().send(
    new QueryCommand({
      TableName: tableName(),
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pk',
      ExpressionAttributeValues: { ':pk': pluginKeys.installationsOfPlugin(pluginId) },
      Limit: JOB_PAGE_SIZE,
      ExclusiveStartKey: after,
    }),
  );
  return { items: (out.Items ?? []) as InstallationItem[], next: out.LastEvaluatedKey };
}

/** Runs one message of a job; sends the next page's message when there is one. */
export async function runPluginJob(job: PluginJob): Promise<{ handled: number; more: boolean }> {
  if (job.kind === 'rollout') return rolloutPage(job);
  return deletePage(job);
}

async function rolloutPage(job: Extract<PluginJob, { kind: 'rollout' }>) {
  const [plugin, version] = await Promise.all([
    findPlugin(job.plugin_id, true),
    findVersion(job.plugin_id, job.version, true),
  ]);
  // A deleted plugin, or a rollout overtaken by a newer version (whose own rollout covers everyone).
  if (plugin?.status !== 'PUBLISHED' || version?.status !== 'PUBLISHED') {
    return { handled: 0, more: false };
  }
  if (plugin.current_version !== job.version) return { handled: 0, more: false };
  const page = await installationsPage(job.plugin_id, job.after);
  let handled = 0;
  for (const i of page.items) {
    if (await followVersion(i, version)) handled++;
  }
  if (page.next) await sendJson('PLUGIN_JOBS_QUEUE_URL', { ...job, after: page.next } satisfies PluginJob);
  logger.info('plugin rollout page', {
    plugin_id: job.plugin_id,
    version: job.version,
    handled,
    more: !!page.next,
  });
  return { handled, more: !!page.next };
}

/**
 * Moves one installation toward `version` (true when it changed). Conditional on the revision
 * read; an installation written meanwhile is read again once.
 */
export async function followVersion(
  read: InstallationItem,
  version: VersionItem,
  retry = true,
): Promise<boolean> {
  const i = read;
  if (compareVersions(i.version, version.version) >= 0) return false;
  if (i.pending_version && compareVersions(i.pending_version, version.version) > 0) return false;
  const m = version.manifest;
  const newPermissions = missingPermissions(m.permissions.required, i.accepted_permissions);
  const at = new Date().toISOString();
  let next: InstallationItem;
  let event: 'plugin.upgraded' | 'plugin.install_failed' | undefined;
  if (newPermissions.length) {
    if (i.pending_version === version.version && !i.error) return false;
    next = { ...i, pending_version: version.version, pending_permissions: newPermissions };
    delete next.error;
  } else {
    const result = revalidate(m.configuration, await fullConfiguration(i));
    if (result.ok) {
      next = {
        ...i,
        version: version.version,
        ...(await storedConfiguration(m.configuration, result.value, i.workspace_id, i.plugin_id)),
      };
      delete next.pending_version;
      delete next.pending_permissions;
      delete next.error;
      if (!next.secrets_sealed) delete next.secrets_sealed;
      event = 'plugin.upgraded';
    } else {
      const reason = `The configuration does not fit version ${version.version}: ${result.errors
        .map((e) => `${e.path}: ${e.message}`)
        .join('; ')}`.slice(0, 1000);
      if (i.pending_version === version.version && i.error === reason) return false;
      next = { ...i, pending_version: version.version, error: reason };
      delete next.pending_permissions;
      event = 'plugin.install_failed';
    }
  }
  next = { ...next, status: statusOf(next), updated_at: at, updated_by: 'system', revision: i.revision + 1 };
  try {
    const action = event ?? 'plugin.upgrade_pending';
    const written = next;
    await writeAudited([installationAudit(action, { system: 'plugin-rollout' }, i, written)], () => [
      {
        Put: {
          TableName: tableName(),
          Item: written,
          ConditionExpression: 'revision = :rev',
          ExpressionAttributeValues: { ':rev': i.revision },
        },
      },
      ...counterTransactItems(i.workspace_id, installationMove(i, written)),
    ]);
    await addServiceCounters(installationMove(i, written));
  } catch (err) {
    if (!conditionFailedAt(err, 0)) throw err;
    if (!retry) return false;
    const current = await findInstallation(i.workspace_id, i.plugin_id);
    return current ? followVersion(current, version, false) : false;
  }
  if (event === 'plugin.install_failed') metrics.count('PluginInstalls', 1, { outcome: 'failed' });
  if (event === 'plugin.upgraded') {
    await publishPluginEvent(event, next, { from_version: i.version, automatic: true });
  } else if (event) {
    await publishPluginEvent(event, next, { reason: 'configuration_invalid_for_version' });
  }
  return true;
}

/** How long the cascade waits before looking again when the index lags behind the installs. */
export const CASCADE_RECHECK_SECONDS = 30;

async function deletePage(job: Extract<PluginJob, { kind: 'delete' }>) {
  const plugin = await findPlugin(job.plugin_id, true);
  if (plugin?.status !== 'DELETING') return { handled: 0, more: false };
  // Always the first page: removed installations leave the index, so what is left comes first.
  const page = await installationsPage(job.plugin_id, undefined);
  let handled = 0;
  for (const i of page.items) {
    // The plugin's install count goes down with each one: it says exactly how many are left.
    if (await removeInstallation(i, { countOnPlugin: true, by: { system: 'plugin-deletion' } })) {
      handled++;
      await publishPluginEvent('plugin.uninstalled', i, { reason: 'plugin_deleted' });
    }
  }
  const left = (await findPlugin(job.plugin_id, true))?.install_count ?? 0;
  if (page.items.length || left > 0) {
    // The index is eventually consistent: entries it still shows, or installs it does not show
    // yet (the count says so), are looked at again after a while rather than in a hot loop.
    const delay = handled > 0 ? 0 : CASCADE_RECHECK_SECONDS;
    await sendJson(
      'PLUGIN_JOBS_QUEUE_URL',
      { kind: 'delete', plugin_id: job.plugin_id } satisfies PluginJob,
      delay,
    );
    logger.info('plugin deletion page', { plugin_id: job.plugin_id, handled, left });
    return { handled, more: true };
  }
  // No installation left: the versions and their packages, then the plugin.
  const bucket = bucketName('packages');
  for await (const v of queryAll({
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
    ExpressionAttributeValues: {
      ':pk': pluginKeys.pluginPartition(job.plugin_id),
      ':prefix': pluginKeys.versionPrefix,
    },
    ConsistentRead: true,
  })) {
    const version = v as unknown as VersionItem;
    if (version.package_key) await deleteObject(bucket, version.package_key);
    await deleteObject(bucket, version.staging_key);
    await db().send(new DeleteCommand({ TableName: tableName(), Key: { pk: version.pk, sk: version.sk } }));
  }
  await db().send(
    new DeleteCommand({
      TableName: tableName(),
      Key: pluginKeys.plugin(job.plugin_id),
      ConditionExpression: '#s = :deleting',
      ExpressionAttributeNames: { '#s': 'status' },
      ExpressionAttributeValues: { ':deleting': 'DELETING' },
    }),
  );
  logger.info('plugin deleted', { plugin_id: job.plugin_id });
  return { handled, more: false };
}
