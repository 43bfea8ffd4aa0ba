/**
 * What the audit log records of plugin installations (install, configuration change, upgrade,
 * uninstall, automatic moves): written in the same transaction as the change. Snapshots hold no
 * secret and no personal identifier (the trail is the subject's, by pseudonym).
 */
import type { AuditInput } from '#shared/audit/log.ts';
import type { Caller } from '#shared/http/caller.ts';
import type { InstallationItem } from './store.ts';

const snapshot = (i: InstallationItem) => ({
  plugin_id: i.plugin_id,
  version: i.version,
  status: i.status,
  enabled: i.enabled,
  accepted_permissions: i.accepted_permissions,
  configuration: i.configuration,
  secret_settings: i.secret_keys ?? [],
  ...(i.pending_version ? { pending_version: i.pending_version } : {}),
  ...(i.error ? { error: i.error } : {}),
});

export function installationAudit(
  action:
    | 'plugin.installed'
    | 'plugin.configured'
    | 'plugin.upgraded'
    | 'plugin.upgrade_pending'
    | 'plugin.uninstalled'
    | 'plugin.install_failed',
  by: Caller | { system: string },
  before: InstallationItem | null,
  after: InstallationItem | null,
): AuditInput {
  const i = (after ?? before) as InstallationItem;
  const human = !('system' in by);
  return {
    workspaceId: i.workspace_id,
    // An admin's action joins their trail; the service's joins the installer's.
    subjectUserId: human ? by.userId : i.installed_by,
    action,
    actor: human ? { userId: by.userId, tokenId: by.tokenId } : { system: by.system },
    target: { type: 'plugin_installation', id: `${i.workspace_id}/${i.plugin_id}` },
    before: before ? snapshot(before) : null,
    after: after ? snapshot(after) : null,
    method: human ? 'api' : 'system',
  };
}
