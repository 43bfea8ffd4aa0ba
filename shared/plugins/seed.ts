/**
 * The plugins the marketplace starts with, published by the service itself after each deployment
 * (and at each local start). Seeding runs once per catalog (a marker item): a seeded plugin an
 * operator later deletes stays deleted, and a later deployment adds only seeds it has not seen.
 */
import { createHash } from 'node:crypto';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import * as v from 'valibot';
import { db, tableName } from '#shared/db/client.ts';
import { isTransactionCanceled, isTransactionConflict } from '#shared/db/conditions.ts';
import { transactWrite } from '#shared/db/transact.ts';
import { logger } from '#shared/logger.ts';
import { bucketName, putObject } from '#shared/objects.ts';
import { pluginKeys } from './keys.ts';
import { type PluginManifest, pluginManifest } from './manifest.ts';
import { packageKey, searchText } from './publishing.ts';
import { findPlugin, type PluginItem, type VersionItem } from './store.ts';

type Seed = Omit<
  PluginManifest,
  'package' | 'permissions' | 'configuration' | 'execution_timeout_seconds' | 'network_domains'
> &
  Partial<
    Pick<PluginManifest, 'permissions' | 'configuration' | 'execution_timeout_seconds' | 'network_domains'>
  >;

export const SEED_PLUGINS: Seed[] = [
  {
    id: 'markdown-editor',
    name: 'Markdown Editor',
    version: '1.0.0',
    description: 'Write task descriptions and comments in Markdown, with a toolbar and a live preview.',
    author: 'PronaFlow',
    category: 'editor',
    homepage: 'https://pronaflow.com/plugins/markdown-editor',
    configuration: {
      type: 'object',
      properties: {
        toolbar: { type: 'string', title: 'Toolbar', enum: ['basic', 'full'], default: 'basic' },
        theme: { type: 'string', title: 'Theme', enum: ['light', 'dark'], default: 'light' },
      },
    },
  },
  {
    id: 'github-links',
    name: 'GitHub Links',
    version: '1.2.0',
    description: 'Shows the status of linked GitHub issues and pull requests on tasks.',
    author: 'PronaFlow',
    category: 'developer-tools',
    permissions: { required: ['tasks:read', 'network:outbound'], optional: ['ui:panel'] },
    network_domains: ['api.github.com'],
    configuration: {
      type: 'object',
      properties: {
        default_owner: { type: 'string', title: 'Default owner', maxLength: 39, pattern: '^[A-Za-z0-9-]+$' },
        show_closed: { type: 'boolean', title: 'Show closed items', default: false },
      },
    },
  },
  {
    id: 'time-tracker',
    name: 'Time Tracker',
    version: '2.0.1',
    description: 'Track time on tasks and send weekly timesheets to a reporting service.',
    author: 'PronaFlow',
    category: 'productivity',
    permissions: { required: ['tasks:read', 'tasks:write'], optional: ['notifications:send'] },
    configuration: {
      type: 'object',
      properties: {
        week_starts_on: { type: 'string', enum: ['monday', 'sunday'], default: 'monday' },
        rounding_minutes: { type: 'integer', minimum: 1, maximum: 60, default: 15 },
        reporting_api_key: { type: 'string', title: 'Reporting API key', secret: true, minLength: 8 },
      },
    },
  },
];

/** The package a seed ships: a small module naming the plugin (built-in plugins run in PronaFlow's front end). */
function seedPackage(seed: Seed): Buffer {
  return Buffer.from(`export const plugin = ${JSON.stringify({ id: seed.id, version: seed.version })};\n`);
}

/**
 * Publishes each seed not seeded yet: package, then plugin and version together, then the seed's
 * marker. Idempotent: safe to run on every deployment.
 */
export async function seedCatalog(now = new Date()): Promise<{ seeded: string[] }> {
  const seeded: string[] = [];
  for (const seed of SEED_PLUGINS) {
    const marker = pluginKeys.seedMarker(seed.id);
    const body = seedPackage(seed);
    const manifest = v.parse(pluginManifest, {
      ...seed,
      package: { size_bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') },
    });
    const at = now.toISOString();
    const key = packageKey(seed.id, seed.version);
    const done = await db().send(
      new GetCommand({ TableName: tableName(), Key: marker, ConsistentRead: true }),
    );
    if (done.Item) continue;
    // An operator's plugin under the same id is theirs: neither its items nor its packages are touched.
    if (!(await findPlugin(seed.id, true))) await putObject(bucketName('packages'), key, body);
    const { id, ...versionManifest } = manifest;
    const version: VersionItem = {
      ...pluginKeys.version(id, manifest.version),
      entity: 'PluginVersion',
      plugin_id: id,
      version: manifest.version,
      status: 'PUBLISHED',
      manifest: versionManifest,
      staging_key: key,
      package_key: key,
      upload_expires_at: at,
      created_by: 'pronaflow',
      created_at: at,
      published_at: at,
    };
    const plugin: PluginItem = {
      ...pluginKeys.plugin(id),
      ...pluginKeys.catalogEntry(id),
      entity: 'Plugin',
      id,
      status: 'PUBLISHED',
      manifest,
      current_version: manifest.version,
      latest_posted: manifest.version,
      package_key: key,
      published_at: at,
      install_count: 0,
      search_text: searchText(manifest),
      created_by: 'pronaflow',
      created_at: at,
      updated_at: at,
    };
    try {
      // Both or neither; a plugin an operator already created under the same id keeps it.
      await transactWrite([
        { Put: { TableName: tableName(), Item: plugin, ConditionExpression: 'attribute_not_exists(pk)' } },
        { Put: { TableName: tableName(), Item: version, ConditionExpression: 'attribute_not_exists(pk)' } },
      ]);
      seeded.push(id);
    } catch (err) {
      if (!isTransactionCanceled(err) || isTransactionConflict(err)) throw err;
    }
    // Last: a run that stopped before this point does the seed again (every step above is idempotent).
    await db().send(
      new PutCommand({ TableName: tableName(), Item: { ...marker, entity: 'PluginSeed', at } }),
    );
  }
  if (seeded.length) logger.info('plugin catalog seeded', { seeded });
  return { seeded };
}
