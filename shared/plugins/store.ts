/**
 * The stored items of the plugin marketplace and their reads. Writes that move an installation
 * live in ./installations.ts, publishing in ./publishing.ts, background jobs in ./jobs.ts.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { db, tableName } from '#shared/db/client.ts';
import { NotFoundError } from '#shared/errors.ts';
import { pluginKeys } from './keys.ts';
import type { PluginManifest, VersionManifest } from './manifest.ts';

export type PluginStatus = 'DRAFT' | 'PUBLISHED' | 'DELETING';
export type VersionStatus = 'UPLOAD_PENDING' | 'PUBLISHED';
export type InstallationStatus = 'ACTIVE' | 'FAILED' | 'DISABLED' | 'UPGRADE_PENDING';

/** A plugin (`PLUGIN#<id>` / `PLUGIN`): the manifest of its current published version. */
export interface PluginItem {
  pk: string;
  sk: string;
  /** Set while the plugin is in the marketplace (published, not being deleted). */
  gsi1pk?: string;
  gsi1sk?: string;
  entity: 'Plugin';
  id: string;
  status: PluginStatus;
  /** The manifest of the current published version; of the first draft until one is published. */
  manifest: PluginManifest;
  current_version?: string;
  /** The highest version ever posted (published or waiting for its upload). */
  latest_posted: string;
  /** Key of the current version's package in the packages bucket. */
  package_key?: string;
  published_at?: string;
  install_count: number;
  /** Lower-cased name and description, for the catalog's text search. */
  search_text: string;
  created_by: string;
  created_at: string;
  updated_at: string;
}

/** One version (`PLUGIN#<id>` / `VERSION#<padded version>`). */
export interface VersionItem {
  pk: string;
  sk: string;
  entity: 'PluginVersion';
  plugin_id: string;
  version: string;
  status: VersionStatus;
  manifest: VersionManifest;
  /** Where the publisher uploads the package (expires with the bucket's staging lifecycle). */
  staging_key: string;
  /** Where the checked package lives once published. */
  package_key?: string;
  upload_expires_at: string;
  created_by: string;
  created_at: string;
  published_at?: string;
}

/** A workspace's installation (`WS#<ws>` / `PLUGININST#<plugin>`). */
export interface InstallationItem {
  pk: string;
  sk: string;
  gsi1pk: string;
  gsi1sk: string;
  entity: 'PluginInstallation';
  plugin_id: string;
  workspace_id: string;
  /** The version it runs (its accepted permissions cover this version's required ones). */
  version: string;
  status: InstallationStatus;
  /** Why it is FAILED (e.g. its configuration does not fit the newer `pending_version`). */
  error?: string;
  /** A newer version it has not moved to: it needs new permissions, or the configuration does not fit it. */
  pending_version?: string;
  /** The permissions `pending_version` requires that the installation has not accepted (UPGRADE_PENDING). */
  pending_permissions?: string[];
  accepted_permissions: string[];
  /** The configuration without its secret fields, defaults applied. */
  configuration: Record<string, unknown>;
  /** The secret fields, as JSON sealed with the installation's key as AAD. */
  secrets_sealed?: string;
  /** Names of the secret fields that hold a value (reads show them masked without unsealing). */
  secret_keys?: string[];
  enabled: boolean;
  installed_by: string;
  /** The installer again, under the attribute the byUser index (U1) is keyed on. */
  user_id?: string;
  installed_at: string;
  updated_by: string;
  updated_at: string;
  /** Bumped by every write: writes are conditional on the revision they read. */
  revision: number;
}

const read = async <T>(key: { pk: string; sk: string }, consistent = false): Promise<T | undefined> => {
  const out = await db().send(
    new GetCommand({ TableName: tableName(), Key: key, ConsistentRead: consistent }),
  );
  return out.Item as T | undefined;
};

export const findPlugin = (id: string, consistent = false) =>
  read<PluginItem>(pluginKeys.plugin(id), consistent);

/**
 * A plugin as the caller may see it: published ones for everyone, drafts and plugins being
 * deleted for operators only (404 otherwise, as for an unknown id).
 */
export async function getVisiblePlugin(
  id: string,
  operator: boolean,
  consistent = false,
): Promise<PluginItem> {
  const plugin = await findPlugin(id, consistent);
  if (!plugin || (plugin.status !== 'PUBLISHED' && !operator)) {
    throw new NotFoundError(`No plugin '${id}' in the marketplace.`);
  }
  return plugin;
}

export const findVersion = (pluginId: string, version: string, consistent = false) =>
  read<VersionItem>(pluginKeys.version(pluginId, version), consistent);

export const findInstallation = (workspaceId: string, pluginId: string) =>
  read<InstallationItem>(pluginKeys.installation(workspaceId, pluginId), true);

/** The workspace's installation of a plugin; 404 when it has none (another workspace's is never found). */
export async function getInstallation(workspaceId: string, pluginId: string): Promise<InstallationItem> {
  const item = await findInstallation(workspaceId, pluginId);
  if (!item) throw new NotFoundError(`Plugin '${pluginId}' is not installed in workspace '${workspaceId}'.`);
  return item;
}

/** The plugin and the workspace's installation of it, read (consistently) side by side. */
export async function findPluginAndInstallation(
  workspaceId: string,
  pluginId: string,
): Promise<{ plugin?: PluginItem; installation?: InstallationItem }> {
  const [plugin, installation] = await Promise.all([
    findPlugin(pluginId, true),
    findInstallation(workspaceId, pluginId),
  ]);
  return { plugin, installation };
}
