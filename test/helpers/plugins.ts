import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import * as v from 'valibot';
import { db, tableName } from '#shared/db/client.ts';
import { pluginKeys } from '#shared/plugins/keys.ts';
import { compareVersions, pluginManifest } from '#shared/plugins/manifest.ts';
import type { PluginItem, VersionItem } from '#shared/plugins/store.ts';

/**
 * Writes published plugins straight to the table (no package in the bucket: installs never read
 * it), each with the given versions published, the highest current. For tests that need many.
 */
export async function putPublishedPlugins(ids: string[], versions: string[] = ['1.0.0']): Promise<void> {
  const at = new Date().toISOString();
  const current = [...versions].sort(compareVersions).at(-1) as string;
  const items: (PluginItem | VersionItem)[] = [];
  for (const id of ids) {
    const manifest = v.parse(pluginManifest, {
      id,
      name: id,
      version: current,
      description: 'A plugin written by a test.',
      author: 'Tests',
      category: 'other',
      package: { size_bytes: 1, sha256: 'a'.repeat(64) },
    });
    items.push({
      ...pluginKeys.plugin(id),
      ...pluginKeys.catalogEntry(id),
      entity: 'Plugin',
      id,
      status: 'PUBLISHED',
      manifest,
      current_version: current,
      latest_posted: current,
      install_count: 0,
      search_text: id,
      created_by: 'tests',
      created_at: at,
      updated_at: at,
    });
    const { id: _id, ...versionManifest } = manifest;
    for (const version of versions) {
      items.push({
        ...pluginKeys.version(id, version),
        entity: 'PluginVersion',
        plugin_id: id,
        version,
        status: 'PUBLISHED',
        manifest: { ...versionManifest, version },
        staging_key: `staging/${id}/${version}/0`,
        package_key: `packages/${id}/${version}`,
        upload_expires_at: at,
        created_by: 'tests',
        created_at: at,
        published_at: at,
      });
    }
  }
  for (let i = 0; i < items.length; i += 25) {
    await db().send(
      new BatchWriteCommand({
        RequestItems: { [tableName()]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) },
      }),
    );
  }
}
