/**
 * The operational webhook events of OAuth connections (`oauth_connection.refresh_failed`,
 * `oauth_connection.expired`; their descriptions are in the webhook catalog). Raised after the
 * failure they report is recorded, through the ingest queue (the `queue:ingest:send` grant); the
 * payload names the connection and the error, never a token.
 */
import { publishEvent } from '#shared/events/publish.ts';
import { logger } from '#shared/logger.ts';
import type { ConnectionItem } from './connections-repo.ts';

export type ConnectionEventType = 'oauth_connection.refresh_failed' | 'oauth_connection.expired';

/** Raises an event about a connection; a failure to send is logged (the write stands), not thrown. */
export async function publishConnectionEvent(
  type: ConnectionEventType,
  c: Pick<ConnectionItem, 'id' | 'app_id' | 'user_id' | 'workspace_id'>,
  extra: Record<string, unknown>,
): Promise<void> {
  const data = { connection_id: c.id, oauth_app_id: c.app_id, user_id: c.user_id, ...extra };
  try {
    await publishEvent({ type, workspace_id: c.workspace_id, data });
  } catch (err) {
    logger.error('oauth connection event not sent', {
      type,
      connection_id: c.id,
      workspace_id: c.workspace_id,
      error: err as Error,
    });
  }
}
