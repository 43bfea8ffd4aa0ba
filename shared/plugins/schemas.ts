/**
 * Request and response contracts of the plugin marketplace (the OpenAPI document is generated from
 * them). Manifests are defined in ./manifest.ts, configuration schemas in ./config-schema.ts.
 */
import * as v from 'valibot';
import { pageQuery } from '#shared/http/common-params.ts';
import { problemSchema } from '#shared/http/problem.ts';
import { record, refine } from '#shared/validation.ts';
import { PLUGIN_CATEGORIES, pluginManifest, SEMVER, versionManifest } from './manifest.ts';
import { PERMISSION_NAMES } from './permissions.ts';

const workspaceId = v.pipe(
  v.string(),
  v.minLength(1),
  v.maxLength(128),
  v.description('The workspace the request acts in (optional: it must be the one the credential acts in)'),
);
/** A plugin's configuration as sent: a JSON object of at most 64 keys (the plugin's schema decides the rest). */
const configuration = v.pipe(
  record(v.pipe(v.string(), v.minLength(1), v.maxLength(100)), v.unknown()),
  refine((c) => Object.keys(c).length <= 64, 'At most 64 configuration keys'),
);
const permissionList = v.pipe(v.array(v.picklist(PERMISSION_NAMES)), v.maxLength(20));

// ── Requests ──
export const pluginParams = v.object({ id: v.pipe(v.string(), v.minLength(1), v.maxLength(64)) });
export const versionParams = v.object({
  id: v.pipe(v.string(), v.minLength(1), v.maxLength(64)),
  version: v.pipe(v.string(), v.regex(SEMVER, 'A version such as "1.4.2"')),
});

export const listPluginsQuery = v.object({
  ...pageQuery.entries,
  q: v.pipe(
    v.optional(v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(100))),
    v.description('Words that must all appear in the name or description'),
  ),
  category: v.optional(v.picklist(PLUGIN_CATEGORIES)),
  sort: v.pipe(
    v.optional(v.picklist(['name', 'installs']), 'name'),
    v.description('`name` A→Z, or `installs` most installed first'),
  ),
});
export const workspaceQuery = v.object({ ...pageQuery.entries, workspace_id: v.optional(workspaceId) });
export const uninstallQuery = v.object({ workspace_id: v.optional(workspaceId) });

export const createPluginBody = pluginManifest;
export const createVersionBody = versionManifest;

export const installPluginBody = v.strictObject({
  workspace_id: v.optional(workspaceId),
  configuration: v.optional(configuration, {}),
  accepted_permissions: v.pipe(
    v.optional(permissionList, []),
    v.description('Must include every permission the plugin requires; optional ones may be added'),
  ),
});
export const updatePluginConfigBody = v.pipe(
  v.strictObject({
    workspace_id: v.optional(workspaceId),
    configuration: v.pipe(
      v.optional(configuration),
      v.description(
        'A JSON merge patch of the configuration: keys replace, `null` removes a value (its default applies); a secret sent back as "********" keeps its value',
      ),
    ),
    enabled: v.pipe(
      v.optional(v.boolean()),
      v.description('false disables the installation (status DISABLED), true enables it again'),
    ),
  }),
  refine(
    (b) => b.configuration !== undefined || b.enabled !== undefined,
    'Send `configuration`, `enabled` or both',
  ),
);
export const upgradePluginBody = v.strictObject({
  workspace_id: v.optional(workspaceId),
  accepted_permissions: v.optional(permissionList, []),
  configuration: v.pipe(
    v.optional(configuration),
    v.description('A merge patch applied before validation against the new version'),
  ),
});

// ── Responses ──
const permissionView = v.object({ name: v.string(), description: v.string() });
const packageView = v.object({ size_bytes: v.pipe(v.number(), v.safeInteger()), sha256: v.string() });

export const pluginSchema = v.object({
  id: v.string(),
  name: v.string(),
  version: v.pipe(v.nullable(v.string()), v.description('The current published version (null for a draft)')),
  status: v.picklist(['DRAFT', 'PUBLISHED', 'DELETING']),
  description: v.string(),
  author: v.string(),
  category: v.picklist(PLUGIN_CATEGORIES),
  homepage: v.nullable(v.string()),
  icon: v.nullable(v.string()),
  permissions: v.object({ required: v.array(permissionView), optional: v.array(permissionView) }),
  configuration_schema: record(v.string(), v.unknown()),
  execution_timeout_seconds: v.pipe(v.number(), v.safeInteger()),
  network_domains: v.array(v.string()),
  package: packageView,
  published_at: v.nullable(v.string()),
  install_count: v.pipe(v.number(), v.safeInteger()),
  created_at: v.string(),
  updated_at: v.string(),
});
export type PluginView = v.InferOutput<typeof pluginSchema>;
export const pluginPageSchema = v.object({
  data: v.array(pluginSchema),
  next_cursor: v.nullable(v.string()),
});

export const versionSchema = v.object({
  version: v.string(),
  status: v.picklist(['UPLOAD_PENDING', 'PUBLISHED']),
  name: v.string(),
  description: v.string(),
  permissions: v.object({ required: v.array(permissionView), optional: v.array(permissionView) }),
  configuration_schema: record(v.string(), v.unknown()),
  execution_timeout_seconds: v.pipe(v.number(), v.safeInteger()),
  network_domains: v.array(v.string()),
  package: packageView,
  created_at: v.string(),
  published_at: v.nullable(v.string()),
});
export type VersionView = v.InferOutput<typeof versionSchema>;
export const versionPageSchema = v.object({
  data: v.array(versionSchema),
  next_cursor: v.nullable(v.string()),
});

export const uploadSchema = v.pipe(
  v.object({
    method: v.literal('POST'),
    url: v.string(),
    fields: v.pipe(
      record(v.string(), v.string()),
      v.description('Form fields to send before the `file` field'),
    ),
    max_bytes: v.pipe(v.number(), v.safeInteger()),
    expires_at: v.string(),
  }),
  v.description('A presigned S3 POST: send a multipart form with these fields, then the package as `file`'),
);
export const draftSchema = v.object({ plugin: pluginSchema, version: versionSchema, upload: uploadSchema });
export const newVersionSchema = v.object({ version: versionSchema, upload: uploadSchema });

export const installationSchema = v.object({
  plugin_id: v.string(),
  plugin_name: v.string(),
  workspace_id: v.string(),
  installed_version: v.string(),
  latest_version: v.nullable(v.string()),
  pending_version: v.pipe(
    v.nullable(v.string()),
    v.description(
      'A newer version waiting for an upgrade (new permissions, or a configuration that no longer fits)',
    ),
  ),
  pending_permissions: v.pipe(
    v.array(v.string()),
    v.description(
      'What `pending_version` requires that was not accepted: pass them to POST /plugins/{id}/upgrade',
    ),
  ),
  status: v.picklist(['ACTIVE', 'FAILED', 'DISABLED', 'UPGRADE_PENDING']),
  error: v.nullable(v.string()),
  accepted_permissions: v.array(v.string()),
  configuration: v.pipe(record(v.string(), v.unknown()), v.description('Secret fields read "********"')),
  installed_by: v.string(),
  installed_at: v.string(),
  updated_at: v.string(),
});
export type InstallationView = v.InferOutput<typeof installationSchema>;
export const installationPageSchema = v.object({
  data: v.array(installationSchema),
  next_cursor: v.nullable(v.string()),
});
/** The problem+json answers of the marketplace, with the members they add. */
export const pluginProblemSchema = v.objectWithRest(
  {
    ...problemSchema.entries,
    reason: v.optional(
      v.picklist([
        'already_installed',
        'workspace_plugin_limit',
        'package_missing',
        'package_too_large',
        'package_size_mismatch',
        'package_checksum_mismatch',
      ]),
    ),
    missing_permissions: v.pipe(
      v.optional(v.array(v.string())),
      v.description('Required permissions the request did not accept'),
    ),
    limit: v.optional(v.pipe(v.number(), v.safeInteger())),
    current_version: v.optional(v.string()),
    required_role: v.optional(v.string()),
  },
  v.unknown(),
);
const problem = (description: string) => ({ description, schema: pluginProblemSchema });
/** Answers every route of an installation may give. */
export const installationProblems = {
  403: problem('Not a workspace admin, or a required permission not accepted (`missing_permissions`)'),
  404: problem('No such plugin in the marketplace, or not installed in this workspace'),
};
export const publishingProblems = {
  403: problem('Not a PronaFlow operator'),
  404: problem('No such plugin or version'),
  409: problem(
    'Not newer than the published version, already published, no package uploaded yet, or changed meanwhile',
  ),
};

export const deletingSchema = v.object({ id: v.string(), status: v.literal('DELETING') });
