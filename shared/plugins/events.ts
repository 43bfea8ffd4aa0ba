/**
 * The webhook events of the marketplace (`plugin.installed`, `plugin.uninstalled`,
 * `plugin.upgraded`, `plugin.install_failed`; their descriptions are in the webhook catalog). They
 * are raised after the write they report, through the ingest queue.
 */
import { publishEvent } from '#shared/events/publish.ts';
import { logger } from '#shared/logger.ts';
import type { InstallationItem } from './store.ts';

export type PluginEventType =
  | 'plugin.installed'
  | 'plugin.uninstalled'
  | 'plugin.upgraded'
  | 'plugin.install_failed';

/**
 * Raises an event about an installation. The write it reports has committed, so a failure to
 * send is logged (with the event's identity, for an operator to replay) rather than failing the
 * request that already succeeded.
 */
export async function publishPluginEvent(
  type: PluginEventType,
  i: Pick<InstallationItem, 'plugin_id' | 'workspace_id' | 'version'> & Partial<InstallationItem>,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const data = {
    plugin_id: i.plugin_id,
    version: i.version,
    ...(i.status ? { status: i.status } : {}),
    ...(i.error ? { error: i.error } : {}),
    ...extra,
  };
  try {
    await publishEvent({ type, workspace_id: i.workspace_id, data });
  } catch (err) {
    logger.error('plugin event not sent', {
      type,
      plugin_id: i.plugin_id,
      workspace_id: i.workspace_id,
      error: err as Error,
    });
  }
}
