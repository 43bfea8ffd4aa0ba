/**
 * Publishing, for PronaFlow operators: a draft plugin with its first version, further versions,
 * publishing a version once its package is uploaded and checked, and deleting a plugin.
 *
 * A version's package goes straight from the publisher to the packages bucket through a presigned
 * POST to a staging key (abandoned uploads expire with the bucket's staging lifecycle). Publishing
 * checks the uploaded object's size and SHA-256 against the manifest, copies it to its final key,
 * then makes the version current; installations then follow it (./jobs.ts).
 */
import { config } from '#shared/config.ts';
import { tableName } from '#shared/db/client.ts';
import { conditionFailedAt } from '#shared/db/conditions.ts';
import { type TransactItem, transactWrite } from '#shared/db/transact.ts';
import { ConflictError, type FieldError, NotFoundError, ValidationError } from '#shared/errors.ts';
import type { Caller } from '#shared/http/caller.ts';
import {
  bucketName,
  copyObject,
  headObject,
  type ObjectPin,
  presignedUpload,
  sha256Of,
} from '#shared/objects.ts';
import { sendJson } from '#shared/queues.ts';
import { secretKeys } from './config-schema.ts';
import type { PluginJob } from './jobs.ts';
import { pluginKeys } from './keys.ts';
import { compareVersions, type PluginManifest, type VersionManifest } from './manifest.ts';
import { findPlugin, findVersion, type PluginItem, type VersionItem } from './store.ts';
import { toPluginView, toVersionView } from './views.ts';

/** How long a presigned upload stays valid. */
export const UPLOAD_EXPIRES_SECONDS = 3600;
const MIB = 1024 * 1024;

const stagingKey = (pluginId: string, version: string, at: string) =>
  `staging/${pluginId}/${version}/${at.replace(/[^0-9]/g, '')}`;
export const packageKey = (pluginId: string, version: string) => `packages/${pluginId}/${version}`;

/** The manifest's limits that are settings (package size, execution timeout): 400 with one entry each. */
function checkLimits(m: VersionManifest, prefix = 'body'): void {
  const cfg = config();
  const errors: FieldError[] = [];
  if (m.package.size_bytes > cfg.PLUGIN_MAX_SIZE_MB * MIB) {
    errors.push({
      path: `${prefix}.package.size_bytes`,
      message: `At most ${cfg.PLUGIN_MAX_SIZE_MB} MB (${cfg.PLUGIN_MAX_SIZE_MB * MIB} bytes)`,
    });
  }
  if (m.execution_timeout_seconds > cfg.PLUGIN_EXECUTION_TIMEOUT_SECONDS) {
    errors.push({
      path: `${prefix}.execution_timeout_seconds`,
      message: `At most ${cfg.PLUGIN_EXECUTION_TIMEOUT_SECONDS} seconds`,
    });
  }
  if (errors.length) throw new ValidationError('The manifest exceeds the marketplace limits.', errors);
}

/** What the catalog's text search looks in. */
export const searchText = (m: VersionManifest) => `${m.name}\n${m.description}`.toLowerCase();

async function uploadFor(key: string, m: VersionManifest) {
  const upload = await presignedUpload({
    bucket: bucketName('packages'),
    key,
    maxBytes: m.package.size_bytes,
    expiresSeconds: UPLOAD_EXPIRES_SECONDS,
  });
  return { method: 'POST' as const, ...upload, max_bytes: m.package.size_bytes };
}

function versionItem(pluginId: string, m: VersionManifest, caller: Caller, now: Date): VersionItem {
  const at = now.toISOString();
  return {
    ...pluginKeys.version(pluginId, m.version),
    entity: 'PluginVersion',
    plugin_id: pluginId,
    version: m.version,
    status: 'UPLOAD_PENDING',
    manifest: m,
    staging_key: stagingKey(pluginId, m.version, at),
    upload_expires_at: new Date(now.getTime() + UPLOAD_EXPIRES_SECONDS * 1000).toISOString(),
    created_by: caller.userId,
    created_at: at,
  };
}

/** `POST /plugins`: a draft plugin with its first version, and the upload for its package. */
export async function createPlugin(caller: Caller, manifest: PluginManifest, now = new Date()) {
  checkLimits(manifest);
  const { id, ...versionManifest } = manifest;
  const at = now.toISOString();
  const version = versionItem(id, versionManifest, caller, now);
  const plugin: PluginItem = {
    ...pluginKeys.plugin(id),
    entity: 'Plugin',
    id,
    status: 'DRAFT',
    manifest,
    latest_posted: manifest.version,
    install_count: 0,
    search_text: searchText(manifest),
    created_by: caller.userId,
    created_at: at,
    updated_at: at,
  };
  try {
    await transactWrite([
      { Put: { TableName: tableName(), Item: plugin, ConditionExpression: 'attribute_not_exists(pk)' } },
      { Put: { TableName: tableName(), Item: version } },
    ]);
  } catch (err) {
    if (conditionFailedAt(err, 0)) throw new ConflictError(`A plugin '${id}' already exists.`);
    throw err;
  }
  return {
    plugin: toPluginView(plugin),
    version: toVersionView(version),
    upload: await uploadFor(version.staging_key, versionManifest),
  };
}

/**
 * `POST /plugins/{id}/versions`: a new version, newer than the current published one. Posting a
 * version again while it waits for its upload replaces its manifest and gives a fresh upload.
 */
export async function createVersion(
  caller: Caller,
  pluginId: string,
  manifest: VersionManifest,
  now = new Date(),
) {
  checkLimits(manifest);
  const plugin = await findPlugin(pluginId, true);
  if (!plugin || plugin.status === 'DELETING') throw new NotFoundError(`No plugin '${pluginId}'.`);
  assertNewer(plugin, manifest.version);
  assertSecretsStaySecret(plugin.current_version ? plugin.manifest : undefined, manifest, 'body');
  const version = versionItem(pluginId, manifest, caller, now);
  const latest =
    compareVersions(manifest.version, plugin.latest_posted) > 0 ? manifest.version : plugin.latest_posted;
  try {
    await transactWrite([
      {
        Put: {
          TableName: tableName(),
          Item: version,
          ConditionExpression: 'attribute_not_exists(pk) OR #s = :pending',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':pending': 'UPLOAD_PENDING' },
        },
      },
      {
        Update: {
          TableName: tableName(),
          Key: pluginKeys.plugin(pluginId),
          UpdateExpression: 'SET latest_posted = :latest, updated_at = :at',
          ...sameCurrent(plugin, { ':latest': latest, ':at': now.toISOString() }),
        },
      },
    ]);
  } catch (err) {
    if (conditionFailedAt(err, 0))
      throw new ConflictError(`Version ${manifest.version} of '${pluginId}' is already published.`);
    if (conditionFailedAt(err, 1)) {
      throw new ConflictError(`Plugin '${pluginId}' changed while this version was posted; post it again.`);
    }
    throw err;
  }
  return { version: toVersionView(version), upload: await uploadFor(version.staging_key, manifest) };
}

function assertNewer(plugin: PluginItem, version: string): void {
  if (plugin.current_version && compareVersions(version, plugin.current_version) <= 0) {
    throw new ConflictError(
      `Version ${version} is not newer than the published version ${plugin.current_version} of '${plugin.id}'.`,
      { extra: { current_version: plugin.current_version } },
    );
  }
}

/** Condition: the plugin is not being deleted and its current version is still the one read. */
function sameCurrent(plugin: PluginItem, extraValues: Record<string, unknown> = {}) {
  const values: Record<string, unknown> = { ':deleting': 'DELETING', ...extraValues };
  let current = 'attribute_not_exists(current_version)';
  if (plugin.current_version) {
    current = 'current_version = :current';
    values[':current'] = plugin.current_version;
  }
  return {
    ConditionExpression: `attribute_exists(pk) AND #ps <> :deleting AND ${current}`,
    ExpressionAttributeNames: { '#ps': 'status' },
    ExpressionAttributeValues: values,
  };
}

/**
 * `POST /plugins/{id}/versions/{version}/publish`: checks the uploaded package (present, the
 * declared size, within PLUGIN_MAX_SIZE_MB, the declared SHA-256), copies it to its final key and
 * makes the version current; installations then follow it (a rollout job). Publishing the current
 * version again sends its rollout again (idempotent), so a lost job is one call away.
 */
export async function publishVersion(pluginId: string, version: string, now = new Date()) {
  const [plugin, item] = await Promise.all([
    findPlugin(pluginId, true),
    findVersion(pluginId, version, true),
  ]);
  if (!plugin || plugin.status === 'DELETING' || !item) {
    throw new NotFoundError(`No version ${version} of plugin '${pluginId}'.`);
  }
  if (item.status === 'PUBLISHED') {
    if (plugin.current_version !== version) {
      throw new ConflictError(`Version ${version} was published and is no longer current.`);
    }
    await sendRollout(pluginId, version);
    return { plugin: toPluginView(plugin), version: toVersionView(item) };
  }
  assertNewer(plugin, version);
  checkLimits(item.manifest, 'manifest');
  assertSecretsStaySecret(plugin.current_version ? plugin.manifest : undefined, item.manifest, 'manifest');
  // The copy takes exactly the object that was checked (its version and ETag), not a later upload.
  const pin = await checkPackage(item);
  const bucket = bucketName('packages');
  const key = packageKey(pluginId, version);
  try {
    await copyObject(bucket, item.staging_key, key, pin);
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 412) throw err;
    throw new ConflictError('The package was uploaded again while it was checked; publish again.');
  }

  const at = now.toISOString();
  const m = item.manifest;
  const manifest: PluginManifest = { id: pluginId, ...m };
  try {
    await transactWrite([
      {
        Update: {
          TableName: tableName(),
          Key: pluginKeys.version(pluginId, version),
          UpdateExpression: 'SET #s = :published, package_key = :key, published_at = :at',
          // The manifest that was checked: a version posted again meanwhile is not published.
          ConditionExpression: '#s = :pending AND staging_key = :staged AND created_at = :posted',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: {
            ':published': 'PUBLISHED',
            ':pending': 'UPLOAD_PENDING',
            ':staged': item.staging_key,
            ':posted': item.created_at,
            ':key': key,
            ':at': at,
          },
        },
      },
      {
        Update: {
          TableName: tableName(),
          Key: pluginKeys.plugin(pluginId),
          UpdateExpression:
            'SET #ps = :published, manifest = :m, current_version = :v, package_key = :key, published_at = :at, updated_at = :at, search_text = :text, gsi1pk = :gpk, gsi1sk = :gsk',
          ...sameCurrent(plugin, {
            ':published': 'PUBLISHED',
            ':m': manifest,
            ':v': version,
            ':key': key,
            ':at': at,
            ':text': searchText(m),
            ':gpk': pluginKeys.catalogEntry(pluginId).gsi1pk,
            ':gsk': pluginKeys.catalogEntry(pluginId).gsi1sk,
          }),
        },
      },
    ]);
  } catch (err) {
    if (conditionFailedAt(err, 0) || conditionFailedAt(err, 1)) {
      throw new ConflictError(
        `Plugin '${pluginId}' changed while version ${version} was published; try again.`,
      );
    }
    throw err;
  }
  const published = {
    ...plugin,
    manifest,
    status: 'PUBLISHED' as const,
    current_version: version,
    published_at: at,
    updated_at: at,
  };
  // Installations exist only once a version was published: they follow the new one.
  if (plugin.current_version) await sendRollout(pluginId, version);
  return {
    plugin: toPluginView(published),
    version: toVersionView({ ...item, status: 'PUBLISHED', package_key: key, published_at: at }),
  };
}

/**
 * Installations follow a new version (a rollout job), in two passes: now, and again once the
 * index of installations has caught up with installs that committed just before the publish
 * (gsi1 is eventually consistent). A pass is idempotent.
 */
export const ROLLOUT_SECOND_PASS_SECONDS = 120;
async function sendRollout(pluginId: string, version: string): Promise<void> {
  const job = { kind: 'rollout', plugin_id: pluginId, version } satisfies PluginJob;
  await sendJson('PLUGIN_JOBS_QUEUE_URL', job);
  await sendJson('PLUGIN_JOBS_QUEUE_URL', job, ROLLOUT_SECOND_PASS_SECONDS);
}

/**
 * A version may not turn a secret setting of the current version into a plain one: its stored
 * value would move out of its sealing into the configuration every member reads.
 */
function assertSecretsStaySecret(
  current: VersionManifest | undefined,
  next: VersionManifest,
  prefix: string,
): void {
  if (!current) return;
  const errors: FieldError[] = [];
  for (const key of secretKeys(current.configuration)) {
    const field = next.configuration.properties[key];
    if (field && !(field.type === 'string' && field.secret === true)) {
      errors.push({
        path: `${prefix}.configuration.properties.${key}`,
        message: 'A secret setting stays secret in later versions (rename it to store a plain value)',
      });
    }
  }
  if (errors.length)
    throw new ValidationError('The configuration schema would expose a secret setting.', errors);
}

/**
 * The uploaded object against the manifest: 409 when nothing was uploaded, 400 when it does not
 * match. Returns the checked object's identity, so what is copied is what was checked.
 */
async function checkPackage(item: VersionItem): Promise<ObjectPin> {
  const bucket = bucketName('packages');
  const head = await headObject(bucket, item.staging_key);
  if (!head) {
    throw new ConflictError(
      `No package was uploaded for version ${item.version} yet: upload it with the presigned POST, then publish.`,
      { extra: { reason: 'package_missing' } },
    );
  }
  const declared = item.manifest.package;
  const limit = config().PLUGIN_MAX_SIZE_MB * MIB;
  const refuse = (message: string, reason: string) => {
    throw new ValidationError(
      'The uploaded package does not match its manifest.',
      [{ path: 'package', message }],
      {
        extra: { reason },
      },
    );
  };
  if (head.size > limit)
    refuse(`The package is ${head.size} bytes, above the ${limit}-byte limit.`, 'package_too_large');
  if (head.size !== declared.size_bytes) {
    refuse(
      `The package is ${head.size} bytes; the manifest declares ${declared.size_bytes}.`,
      'package_size_mismatch',
    );
  }
  const pin: ObjectPin = { ifMatch: head.etag || undefined, versionId: head.versionId };
  const sha256 = await sha256Of(bucket, item.staging_key, pin);
  if (sha256 !== declared.sha256) {
    refuse(
      `The package's SHA-256 is ${sha256}; the manifest declares ${declared.sha256}.`,
      'package_checksum_mismatch',
    );
  }
  return pin;
}

/**
 * `DELETE /plugins/{id}`: takes the plugin out of the marketplace at once (no new install) and
 * starts the cascade that uninstalls it from every workspace, then removes its versions and
 * packages (./jobs.ts). Calling it again while it runs sends the cascade again (idempotent).
 */
export async function deletePlugin(pluginId: string, now = new Date()): Promise<void> {
  const plugin = await findPlugin(pluginId, true);
  if (!plugin) throw new NotFoundError(`No plugin '${pluginId}'.`);
  if (plugin.status !== 'DELETING') {
    const update: TransactItem = {
      Update: {
        TableName: tableName(),
        Key: pluginKeys.plugin(pluginId),
        UpdateExpression: 'SET #s = :deleting, updated_at = :at REMOVE gsi1pk, gsi1sk',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':deleting': 'DELETING', ':at': now.toISOString() },
      },
    };
    await transactWrite([update]);
  }
  await sendJson('PLUGIN_JOBS_QUEUE_URL', { kind: 'delete', plugin_id: pluginId } satisfies PluginJob);
}
