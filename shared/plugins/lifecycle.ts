/**
 * The plugin marketplace in the lifecycle cascades (shared/cascade.ts):
 * - `plugin.deleted`: MARK is the operator's deletion (`deletePlugin`: out of the catalog at
 *   once, no new install, and the deletion cascade of the plugin jobs queue started, ./jobs.ts);
 *   SWEEP waits until that cascade has removed the plugin, so the lifecycle record and GET
 *   /status tell when it is over.
 * - `workspace.deleted`: SWEEP removes the workspace's installations (configuration and sealed
 *   secrets with them, each plugin's install count down), then its installation counter.
 * - `user.deleted`: MARK removes, at once, the installations the user installed (`installed_by`)
 *   in the workspaces where the user has items this service knows of (tokens, quotas, membership
 *   records, OAuth connections, the installations themselves: the `byUser` index), since other
 *   members could still reach them;
 *   each one raises `plugin.uninstalled` (reason `installer_deleted`).
 */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { CascadeParticipant, CascadeSubject, SweepPage } from '#shared/cascade.ts';
import { batchDelete } from '#shared/db/batch.ts';
import { userItemsPage } from '#shared/db/by-user.ts';
import { db, tableName } from '#shared/db/client.ts';
import { NotFoundError } from '#shared/errors.ts';
import { publishPluginEvent } from './events.ts';
import { removeInstallation } from './installations.ts';
import { pluginKeys } from './keys.ts';
import { deletePlugin } from './publishing.ts';
import { findPlugin, type InstallationItem } from './store.ts';

/**
 * How the cascade removes an installation: counted off the plugin, and recorded (where removals
 * are audited) as done by the lifecycle cascade, not by a user.
 */
const BY_CASCADE = { countOnPlugin: true, by: { system: 'lifecycle' } };

/** How often a `plugin.deleted` cascade looks whether the plugin's own cascade is over. */
export const PLUGIN_WAIT_SECONDS = 10;

/** Sort-key prefixes of the user's items that name a workspace the user belongs to. */
const FOOTPRINT = ['TOKENQUOTA#', 'TOKENMEMBER#', 'OAUTHCONN#', 'PLUGININST#'];

/** The workspaces where the user has items this service knows of (byUser index). */
export async function workspacesOfUser(userId: string): Promise<string[]> {
  const found = new Set<string>();
  for (const skPrefix of FOOTPRINT) {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await userItemsPage(userId, { skPrefix, limit: 200, start });
      for (const i of page.items) if (i.workspace_id) found.add(i.workspace_id);
      start = page.next;
    } while (start);
  }
  return [...found];
}

async function installationsPage(
  workspaceId: string,
  limit: number,
  installedBy?: string,
  start?: Record<string, unknown>,
) {
  const out = await db().send(
    new QueryCommand({
      TableName: tableName(),
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ...(installedBy ? { FilterExpression: 'installed_by = :u' } : {}),
      ExpressionAttributeValues: {
        ':pk': pluginKeys.workspacePartition(workspaceId),
        ':p': pluginKeys.installationPrefix,
        ...(installedBy ? { ':u': installedBy } : {}),
      },
      Limit: limit,
      ConsistentRead: true,
      ExclusiveStartKey: start,
    }),
  );
  return { items: (out.Items ?? []) as InstallationItem[], next: out.LastEvaluatedKey };
}

async function markUser(userId: string): Promise<void> {
  for (const ws of await workspacesOfUser(userId)) {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await installationsPage(ws, 100, userId, start);
      for (const i of page.items) {
        if (await removeInstallation(i, BY_CASCADE)) {
          await publishPluginEvent('plugin.uninstalled', i, { reason: 'installer_deleted' });
        }
      }
      start = page.next;
    } while (start);
  }
}

async function sweepWorkspace(s: CascadeSubject, max: number): Promise<SweepPage> {
  const page = await installationsPage(s.id, Math.max(1, Math.floor(max / 4)));
  let deleted = 0;
  for (const i of page.items) if (await removeInstallation(i, BY_CASCADE)) deleted++;
  if (page.items.length) return { deleted, next: {} };
  await batchDelete([pluginKeys.installCount(s.id)]);
  return { deleted: 0 };
}

async function waitForPlugin(s: CascadeSubject): Promise<SweepPage> {
  const plugin = await findPlugin(s.id, true);
  if (plugin?.status === 'DELETING')
    return { deleted: 0, next: { waiting: true }, delaySeconds: PLUGIN_WAIT_SECONDS };
  return { deleted: 0 };
}

/** The plugin marketplace's participant (registered in shared/lifecycle/participants.ts). */
export const pluginsParticipant: CascadeParticipant = {
  name: 'plugins',
  kinds: ['plugin', 'workspace', 'user'],
  mark: async (s) => {
    if (s.kind === 'plugin') {
      try {
        await deletePlugin(s.id);
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err; // unknown here, or deleted already
      }
    } else if (s.kind === 'user') {
      await markUser(s.id);
    }
  },
  sweep: async (s, _cursor, { maxItems }) => {
    if (s.kind === 'workspace') return sweepWorkspace(s, maxItems);
    if (s.kind === 'plugin') return waitForPlugin(s);
    return { deleted: 0 }; // the mark removed them
  },
};
