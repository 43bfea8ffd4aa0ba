/** API views of the marketplace's items: never a secret, never a storage key. */
import { MASK } from './config-schema.ts';
import type { VersionManifest } from './manifest.ts';
import { PLUGIN_PERMISSIONS, type PluginPermission } from './permissions.ts';
import type { InstallationView, PluginView, VersionView } from './schemas.ts';
import type { InstallationItem, PluginItem, VersionItem } from './store.ts';

const described = (names: readonly string[]) =>
  names.map((name) => ({ name, description: PLUGIN_PERMISSIONS[name as PluginPermission] ?? name }));

function manifestParts(m: VersionManifest) {
  return {
    permissions: { required: described(m.permissions.required), optional: described(m.permissions.optional) },
    configuration_schema: m.configuration as unknown as Record<string, unknown>,
    execution_timeout_seconds: m.execution_timeout_seconds,
    network_domains: m.network_domains,
    package: m.package,
  };
}

export function toPluginView(p: PluginItem): PluginView {
  const m = p.manifest;
  return {
    id: p.id,
    name: m.name,
    version: p.current_version ?? null,
    status: p.status,
    description: m.description,
    author: m.author,
    category: m.category,
    homepage: m.homepage ?? null,
    icon: m.icon ?? null,
    ...manifestParts(m),
    published_at: p.published_at ?? null,
    install_count: Math.max(0, p.install_count),
    created_at: p.created_at,
    updated_at: p.updated_at,
  };
}

export function toVersionView(v: VersionItem): VersionView {
  return {
    version: v.version,
    status: v.status,
    name: v.manifest.name,
    description: v.manifest.description,
    ...manifestParts(v.manifest),
    created_at: v.created_at,
    published_at: v.published_at ?? null,
  };
}

/** An installation with its secret fields masked (their values never leave the table, sealed). */
export function toInstallationView(
  i: InstallationItem,
  plugin: Pick<PluginItem, 'current_version' | 'manifest'> | undefined,
): InstallationView {
  return {
    plugin_id: i.plugin_id,
    plugin_name: plugin?.manifest.name ?? i.plugin_id,
    workspace_id: i.workspace_id,
    installed_version: i.version,
    latest_version: plugin?.current_version ?? null,
    pending_version: i.pending_version ?? null,
    pending_permissions: i.pending_permissions ?? [],
    status: i.status,
    error: i.error ?? null,
    accepted_permissions: i.accepted_permissions,
    configuration: { ...i.configuration, ...Object.fromEntries((i.secret_keys ?? []).map((k) => [k, MASK])) },
    installed_by: i.installed_by,
    installed_at: i.installed_at,
    updated_at: i.updated_at,
  };
}
