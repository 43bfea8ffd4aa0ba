/**
 * A plugin's manifest: what a publisher declares for each version, validated on create and
 * checked again on publish (version order, package size, execution timeout: the limits are
 * settings, so they are checked by the publishing code with the same error shape).
 */
import * as v from 'valibot';
import { DOMAIN, refine, url } from '#shared/validation.ts';
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

const httpsUrl = v.pipe(url({ protocol: /^https$/, hostname: DOMAIN }), v.maxLength(2048));
/** A hostname the plugin calls, or a `*.` wildcard of one: shown to admins at install. */
const domain = v.pipe(
  v.string(),
  v.maxLength(253),
  v.regex(
    /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/,
    'A lower-case host name such as "api.example.com" or "*.example.com"',
  ),
);
const permission = v.picklist(PERMISSION_NAMES);
const unique = <T>(list: T[]) => new Set(list).size === list.length;

export const permissionsSchema = v.pipe(
  v.strictObject({
    required: v.optional(
      v.pipe(v.array(permission), v.maxLength(20), refine(unique, 'Each permission once')),
      [],
    ),
    optional: v.optional(
      v.pipe(v.array(permission), v.maxLength(20), refine(unique, 'Each permission once')),
      [],
    ),
  }),
  v.forward(
    refine(
      (p) => !p.optional.some((o) => p.required.includes(o)),
      'A permission is either required or optional, not both',
    ),
    ['optional'],
  ),
);

/** The manifest of one version (POST /plugins/{id}/versions); POST /plugins adds the plugin's `id`. */
export const versionManifest = v.strictObject({
  name: v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(100)),
  version: v.pipe(v.string(), v.regex(SEMVER, 'A version such as "1.4.2" (MAJOR.MINOR.PATCH)')),
  description: v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(2000)),
  author: v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(100)),
  category: v.picklist(PLUGIN_CATEGORIES),
  homepage: v.optional(httpsUrl),
  icon: v.optional(httpsUrl),
  permissions: v.optional(permissionsSchema, { required: [], optional: [] }),
  configuration: v.optional(configSchema, { type: 'object', properties: {} }),
  package: v.strictObject({
    size_bytes: v.pipe(v.number(), v.safeInteger(), v.minValue(1)),
    sha256: v.pipe(v.string(), v.regex(/^[a-f0-9]{64}$/, 'The lower-case hex SHA-256 of the package')),
  }),
  execution_timeout_seconds: v.optional(
    v.pipe(v.number(), v.safeInteger(), v.minValue(1)),
    DEFAULT_EXECUTION_TIMEOUT_SECONDS,
  ),
  network_domains: v.optional(
    v.pipe(v.array(domain), v.maxLength(20), refine(unique, 'Each domain once')),
    [],
  ),
});
export type VersionManifest = v.InferOutput<typeof versionManifest>;

/** Ids that are path segments of the API (`GET /plugins/installed`), not plugins. */
export const RESERVED_PLUGIN_IDS = ['installed'];

export const pluginManifest = v.strictObject({
  ...versionManifest.entries,
  id: v.pipe(
    v.string(),
    v.regex(PLUGIN_ID, 'A slug such as "markdown-editor" (3–64 characters: a-z, 0-9, -)'),
    refine((id) => !RESERVED_PLUGIN_IDS.includes(id), 'This id is reserved'),
  ),
});
export type PluginManifest = v.InferOutput<typeof pluginManifest>;

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
