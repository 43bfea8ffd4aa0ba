/**
 * The event-type catalog (WebhookEvent): every type an endpoint may subscribe to, with a
 * description and an example payload (`data` of the delivered `{ type, timestamp, data }`).
 */
export interface WebhookEventType {
  name: string;
  description: string;
  example: Record<string, unknown>;
}

/** Sent by `POST /webhooks/{id}/test`; never emitted by PronaFlow itself. */
export const PING_EVENT = 'ping';

export const eventCatalog: readonly WebhookEventType[] = [
  {
    name: 'task.created',
    description: 'A task was created in a project.',
    example: { task_id: 'task_123', project_id: 'prj_1', title: 'Write the spec', created_by: 'u1' },
  },
  {
    name: 'task.updated',
    description: "A task's fields changed (title, description, assignee, due date, status).",
    example: { task_id: 'task_123', changes: { title: { from: 'Spec', to: 'Write the spec' } } },
  },
  {
    name: 'task.completed',
    description: 'A task was marked as done.',
    example: { task_id: 'task_123', completed_by: 'u1', completed_at: '2026-01-02T10:00:00Z' },
  },
  {
    name: 'task.deleted',
    description: 'A task was deleted.',
    example: { task_id: 'task_123', deleted_by: 'u1' },
  },
  {
    name: 'project.created',
    description: 'A project was created in the workspace.',
    example: { project_id: 'prj_1', name: 'Launch', created_by: 'u1' },
  },
  {
    name: 'project.updated',
    description: "A project's settings changed.",
    example: { project_id: 'prj_1', changes: { name: { from: 'Launch', to: 'Launch v2' } } },
  },
  {
    name: 'project.archived',
    description: 'A project was archived.',
    example: { project_id: 'prj_1', archived_by: 'u1' },
  },
  {
    name: 'comment.created',
    description: 'A comment was posted on a task.',
    example: { comment_id: 'cmt_1', task_id: 'task_123', author_id: 'u2', body: 'Looks good' },
  },
  {
    name: 'member.added',
    description: 'A user joined the workspace.',
    example: { user_id: 'u3', role: 'member', added_by: 'u1' },
  },
  {
    name: 'member.removed',
    description: 'A user left or was removed from the workspace.',
    example: { user_id: 'u3', removed_by: 'u1' },
  },
  {
    name: 'plugin.installed',
    description: 'A plugin was installed in the workspace.',
    example: { plugin_id: 'markdown-editor', version: '1.0.0', status: 'ACTIVE', installed_by: 'u1' },
  },
  {
    name: 'plugin.uninstalled',
    description:
      'A plugin was uninstalled from the workspace (by an admin, or because the plugin was deleted): its configuration and secrets are gone.',
    example: { plugin_id: 'markdown-editor', version: '1.0.0', uninstalled_by: 'u1', reason: 'uninstalled' },
  },
  {
    name: 'plugin.upgraded',
    description:
      "An installation moved to a newer version of its plugin (automatically, or by an admin's upgrade).",
    example: { plugin_id: 'markdown-editor', version: '1.1.0', from_version: '1.0.0', automatic: true },
  },
  {
    name: 'plugin.install_failed',
    description:
      "An installation could not follow a new version: its configuration does not fit the version's schema (it stays on its version, status FAILED, with the reason in `error`).",
    example: {
      plugin_id: 'markdown-editor',
      version: '1.0.0',
      status: 'FAILED',
      error:
        'The configuration does not fit version 2.0.0: configuration.theme: Must be one of: "light", "dark", "sepia"',
      reason: 'configuration_invalid_for_version',
    },
  },
  {
    name: 'webhook_endpoint.disabled',
    description:
      'Operational: an endpoint was disabled automatically (it answered 410 Gone, or WEBHOOK_DISABLE_AFTER_CONSECUTIVE_FAILURES deliveries in a row failed), with the reason. Sent to the other subscribed endpoints of the workspace, never to the disabled one; re-enable it with PATCH active: true.',
    example: {
      endpoint_id: 'wh_01jd…',
      url: 'https://example.com/hooks',
      reason: 'Disabled after 20 consecutive failed deliveries',
      disabled_at: '2026-01-02T10:00:00.000Z',
      consecutive_failures: 20,
    },
  },
  {
    name: 'oauth_connection.refresh_failed',
    description:
      "Operational: refreshing a connection's access token failed (the provider's error, or ours); the connection is in ERROR and is retried after a cooldown while attempts are left (`next_refresh_at`). No token is included.",
    example: {
      connection_id: 'conn_01jd…',
      oauth_app_id: 'github',
      user_id: 'u1',
      status: 'ERROR',
      error: { code: 'temporarily_unavailable', description: 'Try again later' },
      refresh_attempts: 1,
      next_refresh_at: '2026-01-02T10:05:00.000Z',
    },
  },
  {
    name: 'oauth_connection.expired',
    description:
      "Operational: a refresh found the connection's grant dead (the provider answered invalid_grant, or the refresh token is older than OAUTH_REFRESH_TOKEN_EXPIRY_DAYS); the connection is EXPIRED and its user must connect again. No token is included.",
    example: {
      connection_id: 'conn_01jd…',
      oauth_app_id: 'github',
      user_id: 'u1',
      status: 'EXPIRED',
      error: { code: 'invalid_grant', description: 'The refresh token was revoked' },
    },
  },
  {
    name: 'consent.revoked',
    description:
      'A user withdrew a consent (DELETE /consents/{id}); what relied on it stops (sync bindings of a THIRD_PARTY consent for their connection pause).',
    example: {
      consent_id: 'cns_01jd…',
      user_id: 'u1',
      consent_type: 'THIRD_PARTY',
      resource_type: 'oauth_connection',
      resource_id: 'conn_01jd…',
    },
  },
  {
    name: 'consent.expired',
    description:
      'A consent reached its end date and was marked EXPIRED; what relied on it stops, as for a withdrawal.',
    example: {
      consent_id: 'cns_01jd…',
      user_id: 'u1',
      consent_type: 'THIRD_PARTY',
      resource_type: 'oauth_connection',
      resource_id: 'conn_01jd…',
    },
  },
  {
    name: 'sync.completed',
    description:
      'A sync run of a binding ended (SUCCEEDED, or PARTIAL when some records failed), with its counts per direction; also sent for a run that only deleted records or changed nothing.',
    example: {
      binding_id: 'bnd_01jd…',
      run_id: 'run_01jd…',
      connection_id: 'conn_01jd…',
      resource: { type: 'github_repository', owner: 'acme', repo: 'app', kind: 'issues' },
      entity: 'task',
      status: 'SUCCEEDED',
      trigger: 'schedule',
      full: false,
      inbound: { added: 3, updated: 1, deleted: 0, skipped: 0, failed: 0 },
      outbound: { added: 0, updated: 2, deleted: 0, skipped: 1, failed: 0 },
      errors_total: 0,
      checkpoint_from: '2026-12-01T09:00:00Z',
      checkpoint_to: '2026-12-01T10:00:00Z',
      duration_ms: 1840,
      finished_at: '2026-12-01T10:00:02Z',
    },
  },
  {
    name: 'sync.failed',
    description:
      'Operational: a sync run of a binding failed (the connection was refused or expired, the resource is gone, consent was withdrawn, …), with the error; records already synced stay synced and the next run resumes from the last checkpoint.',
    example: {
      binding_id: 'bnd_01jd…',
      run_id: 'run_01jd…',
      connection_id: 'conn_01jd…',
      status: 'FAILED',
      error: {
        code: 'connection_rejected',
        message: "The provider refused the connection's token (HTTP 401)",
      },
      inbound: { added: 10, updated: 0, deleted: 0, skipped: 0, failed: 0 },
      outbound: { added: 0, updated: 0, deleted: 0, skipped: 0, failed: 0 },
    },
  },
  {
    name: PING_EVENT,
    description: 'A test event sent by POST /webhooks/{id}/test to check an endpoint.',
    example: { endpoint_id: 'wh_01jd…', message: 'Ping from PronaFlow' },
  },
];

const names = new Set(eventCatalog.map((e) => e.name));

/** True when `type` is in the catalog. */
export function isKnownEventType(type: string): boolean {
  return names.has(type);
}

/** The types of `requested` that are not in the catalog. */
export function unknownEventTypes(requested: string[]): string[] {
  return requested.filter((t) => !names.has(t));
}
