/**
 * A plugin's manifest: what a publisher declares for each version, validated on create and
 * checked again on publish (version order, package size, execution timeout: the limits are
 * settings, so they are checked by the publishing code with the same error shape).
 */
import * as z from 'zod';
import { configSchema } from './config-schema.ts';
import { PERMISSION_NAMES } from './permissions.ts';

/** `MAJOR.MINOR.PATCH`, each part a number without leading zeros (pre-releases are not published). */
export const SEMVER = /^(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})$/;
/** Plugin ids are slugs: `markdown-editor`. */
export const PLUGIN_ID = /^[a-z][a-z0-9-]{1,62}[a-z0-9]$/;

export const PLUGIN_CATEGORIES = [
  'editor',
  'productivity',
  'reporting',
  'automation',
  'communication',
  'developer-tools',
  'security',
  'other',
] as const;

/** Default execution timeout of a plugin that declares none (capped by PLUGIN_EXECUTION_TIMEOUT_SECONDS). */
export const DEFAULT_EXECUTION_TIMEOUT_SECONDS = 10;

const httpsUrl = z.url({ protocol: /^https$/, hostname: z.regexes.domain }).max(2048);
/** A hostname the plugin calls, or a `*.` wildcard of one: shown to admins at install. */
const domain = z
  .string()
  .max(253)
  .regex(
    /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/,
    'A lower-case host name such as "api.example.com" or "*.example.com"',
  );
const permission = z.enum(PERMISSION_NAMES);
const unique = <T>(list: T[]) => new Set(list).size === list.length;

export const permissionsSchema = z
  .strictObject({
    required: z.array(permission).max(20).refine(unique, 'Each permission once').default([]),
    optional: z.array(permission).max(20).refine(unique, 'Each permission once').default([]),
  })
  .refine((p) => !p.optional.some((o) => p.required.includes(o)), {
    message: 'A permission is either required or optional, not both',
    path: ['optional'],
  });

/** The manifest of one version (POST /plugins/{id}/versions); POST /plugins adds the plugin's `id`. */
export const versionManifest = z.strictObject({
  name: z.string().trim().min(1).max(100),
  version: z.string().regex(SEMVER, 'A version such as "1.4.2" (MAJOR.MINOR.PATCH)'),
  description: z.string().trim().min(1).max(2000),
  author: z.string().trim().min(1).max(100),
  category: z.enum(PLUGIN_CATEGORIES),
  homepage: httpsUrl.optional(),
  icon: httpsUrl.optional(),
  permissions: permissionsSchema.default({ required: [], optional: [] }),
  configuration: configSchema.default({ type: 'object', properties: {} }),
  package: z.strictObject({
    size_bytes: z.number().int().min(1),
    sha256: z.string().regex(/^[a-f0-9]{64}$/, 'The lower-case hex SHA-256 of the package'),
  }),
  execution_timeout_seconds: z.number().int().min(1).default(DEFAULT_EXECUTION_TIMEOUT_SECONDS),
  network_domains: z.array(domain).max(20).refine(unique, 'Each domain once').default([]),
});
export type VersionManifest = z.infer<typeof versionManifest>;

/** Ids that are path segments of the API (`GET /plugins/installed`), not plugins. */
export const RESERVED_PLUGIN_IDS = ['installed'];

export const pluginManifest = versionManifest.extend({
  id: z
    .string()
    .regex(PLUGIN_ID, 'A slug such as "markdown-editor" (3–64 characters: a-z, 0-9, -)')
    .refine((id) => !RESERVED_PLUGIN_IDS.includes(id), 'This id is reserved'),
});
export type PluginManifest = z.infer<typeof pluginManifest>;

/** Compares two versions of {@link SEMVER}: negative when `a` is older. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d) return d;
  }
  return 0;
}
