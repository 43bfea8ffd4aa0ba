/**
 * Request and response contracts of the plugin marketplace (the OpenAPI document is generated from
 * them). Manifests are defined in ./manifest.ts, configuration schemas in ./config-schema.ts.
 */
import * as z from 'zod';
import { pageQuery } from '#shared/http/common-params.ts';
import { problemSchema } from '#shared/http/problem.ts';
import { PLUGIN_CATEGORIES, pluginManifest, SEMVER, versionManifest } from './manifest.ts';
import { PERMISSION_NAMES } from './permissions.ts';

const workspaceId = z
  .string()
  .min(1)
  .max(128)
  .describe('The workspace the request acts in (optional: it must be the one the credential acts in)');
/** A plugin's configuration as sent: a JSON object of at most 64 keys (the plugin's schema decides the rest). */
const configuration = z
  .record(z.string().min(1).max(100), z.unknown())
  .refine((c) => Object.keys(c).length <= 64, { message: 'At most 64 configuration keys' });
const permissionList = z.array(z.enum(PERMISSION_NAMES)).max(20);

// ── Requests ──
export const pluginParams = z.object({ id: z.string().min(1).max(64) });
export const versionParams = z.object({
  id: z.string().min(1).max(64),
  version: z.string().regex(SEMVER, 'A version such as "1.4.2"'),
});

export const listPluginsQuery = pageQuery.extend({
  q: z
    .string()
    .trim()
    .min(1)
    .max(100)
    .optional()
    .describe('Words that must all appear in the name or description'),
  category: z.enum(PLUGIN_CATEGORIES).optional(),
  sort: z
    .enum(['name', 'installs'])
    .default('name')
    .describe('`name` A→Z, or `installs` most installed first'),
});
export const workspaceQuery = pageQuery.extend({ workspace_id: workspaceId.optional() });
export const uninstallQuery = z.object({ workspace_id: workspaceId.optional() });

export const createPluginBody = pluginManifest;
export const createVersionBody = versionManifest;

export const installPluginBody = z.strictObject({
  workspace_id: workspaceId.optional(),
  configuration: configuration.default({}),
  accepted_permissions: permissionList
    .default([])
    .describe('Must include every permission the plugin requires; optional ones may be added'),
});
export const updatePluginConfigBody = z
  .strictObject({
    workspace_id: workspaceId.optional(),
    configuration: configuration
      .optional()
      .describe(
        'A JSON merge patch of the configuration: keys replace, `null` removes a value (its default applies); a secret sent back as "********" keeps its value',
      ),
    enabled: z
      .boolean()
      .optional()
      .describe('false disables the installation (status DISABLED), true enables it again'),
  })
  .refine((b) => b.configuration !== undefined || b.enabled !== undefined, {
    message: 'Send `configuration`, `enabled` or both',
  });
export const upgradePluginBody = z.strictObject({
  workspace_id: workspaceId.optional(),
  accepted_permissions: permissionList.default([]),
  configuration: configuration
    .optional()
    .describe('A merge patch applied before validation against the new version'),
});

// ── Responses ──
const permissionView = z.object({ name: z.string(), description: z.string() });
const packageView = z.object({ size_bytes: z.number().int(), sha256: z.string() });

export const pluginSchema = z.object({
  id: z.string(),
  name: z.string(),
  version: z.string().nullable().describe('The current published version (null for a draft)'),
  status: z.enum(['DRAFT', 'PUBLISHED', 'DELETING']),
  description: z.string(),
  author: z.string(),
  category: z.enum(PLUGIN_CATEGORIES),
  homepage: z.string().nullable(),
  icon: z.string().nullable(),
  permissions: z.object({ required: z.array(permissionView), optional: z.array(permissionView) }),
  configuration_schema: z.record(z.string(), z.unknown()),
  execution_timeout_seconds: z.number().int(),
  network_domains: z.array(z.string()),
  package: packageView,
  published_at: z.string().nullable(),
  install_count: z.number().int(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type PluginView = z.infer<typeof pluginSchema>;
export const pluginPageSchema = z.object({ data: z.array(pluginSchema), next_cursor: z.string().nullable() });

export const versionSchema = z.object({
  version: z.string(),
  status: z.enum(['UPLOAD_PENDING', 'PUBLISHED']),
  name: z.string(),
  description: z.string(),
  permissions: z.object({ required: z.array(permissionView), optional: z.array(permissionView) }),
  configuration_schema: z.record(z.string(), z.unknown()),
  execution_timeout_seconds: z.number().int(),
  network_domains: z.array(z.string()),
  package: packageView,
  created_at: z.string(),
  published_at: z.string().nullable(),
});
export type VersionView = z.infer<typeof versionSchema>;
export const versionPageSchema = z.object({
  data: z.array(versionSchema),
  next_cursor: z.string().nullable(),
});

export const uploadSchema = z
  .object({
    method: z.literal('POST'),
    url: z.string(),
    fields: z.record(z.string(), z.string()).describe('Form fields to send before the `file` field'),
    max_bytes: z.number().int(),
    expires_at: z.string(),
  })
  .describe('A presigned S3 POST: send a multipart form with these fields, then the package as `file`');
export const draftSchema = z.object({ plugin: pluginSchema, version: versionSchema, upload: uploadSchema });
export const newVersionSchema = z.object({ version: versionSchema, upload: uploadSchema });

export const installationSchema = z.object({
  plugin_id: z.string(),
  plugin_name: z.string(),
  workspace_id: z.string(),
  installed_version: z.string(),
  latest_version: z.string().nullable(),
  pending_version: z
    .string()
    .nullable()
    .describe(
      'A newer version waiting for an upgrade (new permissions, or a configuration that no longer fits)',
    ),
  pending_permissions: z
    .array(z.string())
    .describe(
      'What `pending_version` requires that was not accepted: pass them to POST /plugins/{id}/upgrade',
    ),
  status: z.enum(['ACTIVE', 'FAILED', 'DISABLED', 'UPGRADE_PENDING']),
  error: z.string().nullable(),
  accepted_permissions: z.array(z.string()),
  configuration: z.record(z.string(), z.unknown()).describe('Secret fields read "********"'),
  installed_by: z.string(),
  installed_at: z.string(),
  updated_at: z.string(),
});
export type InstallationView = z.infer<typeof installationSchema>;
export const installationPageSchema = z.object({
  data: z.array(installationSchema),
  next_cursor: z.string().nullable(),
});
/** The problem+json answers of the marketplace, with the members they add. */
export const pluginProblemSchema = problemSchema.extend({
  reason: z
    .enum([
      'already_installed',
      'workspace_plugin_limit',
      'package_missing',
      'package_too_large',
      'package_size_mismatch',
      'package_checksum_mismatch',
    ])
    .optional(),
  missing_permissions: z
    .array(z.string())
    .optional()
    .describe('Required permissions the request did not accept'),
  limit: z.number().int().optional(),
  current_version: z.string().optional(),
  required_role: z.string().optional(),
});
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

export const deletingSchema = z.object({ id: z.string(), status: z.literal('DELETING') });
