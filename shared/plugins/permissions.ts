/**
 * The permissions a plugin may ask for. Admins see each one's description when they install, and
 * must accept every permission a plugin requires; optional ones may be accepted or not. A version
 * that requires a permission its installations have not accepted waits for an admin's upgrade.
 */
export const PLUGIN_PERMISSIONS = {
  'tasks:read': 'Read tasks, their fields and their comments in the workspace.',
  'tasks:write': 'Create, update and delete tasks and their comments.',
  'projects:read': 'Read projects and their settings.',
  'projects:write': 'Create, update and archive projects.',
  'members:read': "Read the workspace's members: names, e-mail addresses and roles.",
  'files:read': 'Read files attached to tasks and projects.',
  'files:write': 'Attach, replace and delete files on tasks and projects.',
  'editor:extend': 'Add toolbar actions, formatting and previews to the task and document editor.',
  'ui:panel': 'Show its own panel next to tasks and projects.',
  'notifications:send': 'Send in-app notifications to workspace members.',
  'network:outbound': 'Call the external domains the plugin lists (shown at install).',
  'webhooks:receive': "Receive the workspace's PronaFlow events.",
} as const;

export type PluginPermission = keyof typeof PLUGIN_PERMISSIONS;
export const PERMISSION_NAMES = Object.keys(PLUGIN_PERMISSIONS) as [PluginPermission, ...PluginPermission[]];

/** The permissions of `required` that `accepted` does not cover, in catalog order. */
export function missingPermissions(required: readonly string[], accepted: readonly string[]): string[] {
  const have = new Set(accepted);
  return required.filter((p) => !have.has(p));
}

/** Permissions `next` requires that an installation which accepted `accepted` has not. */
export function newlyRequired(next: readonly string[], accepted: readonly string[]): string[] {
  return missingPermissions(next, accepted);
}
