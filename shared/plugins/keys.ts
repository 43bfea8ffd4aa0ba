/**
 * Key builders of the plugin marketplace's items (access patterns P1–P8 in shared/db/README.md). The
 * catalog lives in one partition per plugin; installations live in their workspace's partition
 * and are found per plugin through gsi1 (rollouts and the deletion cascade).
 */

/** Versions sort as strings: each part zero-padded, so `1.10.0` sorts after `1.9.3`. */
export function versionSortKey(version: string): string {
  return version
    .split('.')
    .map((p) => p.padStart(6, '0'))
    .join('.');
}

export const pluginKeys = {
  /** A plugin: its current manifest, status and install count (P2). */
  plugin: (pluginId: string) => ({ pk: `PLUGIN#${pluginId}`, sk: 'PLUGIN' }),
  /** gsi1 keys of a plugin in the catalog (P1): every plugin of the marketplace in one index partition, by id. */
  catalogEntry: (pluginId: string) => ({ gsi1pk: 'PLUGINCATALOG', gsi1sk: pluginId }),
  catalogPartition: 'PLUGINCATALOG',
  /** One version of a plugin (P3), sorted by version. */
  version: (pluginId: string, version: string) => ({
    pk: `PLUGIN#${pluginId}`,
    sk: `VERSION#${versionSortKey(version)}`,
  }),
  versionPrefix: 'VERSION#',
  pluginPartition: (pluginId: string) => `PLUGIN#${pluginId}`,
  /** A workspace's installation of a plugin (P4, P5). */
  installation: (workspaceId: string, pluginId: string) => ({
    pk: `WS#${workspaceId}`,
    sk: `PLUGININST#${pluginId}`,
  }),
  installationPrefix: 'PLUGININST#',
  workspacePartition: (workspaceId: string) => `WS#${workspaceId}`,
  /** gsi1 keys of an installation: a plugin's installations, by workspace (P6). */
  installationOfPlugin: (pluginId: string, workspaceId: string) => ({
    gsi1pk: `PLUGININST#${pluginId}`,
    gsi1sk: workspaceId,
  }),
  installationsOfPlugin: (pluginId: string) => `PLUGININST#${pluginId}`,
  /** How many plugins a workspace has installed (P7: the cap is checked atomically on install). */
  installCount: (workspaceId: string) => ({ pk: `WS#${workspaceId}`, sk: 'PLUGIN_COUNT' }),
  /** A seed plugin was published once (P8): it is never seeded again, even after its deletion. */
  seedMarker: (pluginId: string) => ({ pk: 'PLUGINSEED', sk: `SEEDED#${pluginId}` }),
  /** Progress of the re-encryption of installations' secret settings (P10). */
  reencryptJob: () => ({ pk: 'PLUGINJOB#REENCRYPT', sk: 'STATE' }),
} as const;
