import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { AppError, ServiceUnavailableError, UnauthorizedError } from '#shared/errors.ts';
import type { Caller } from '#shared/http/caller.ts';
import type { RouteDef } from '#shared/http/route.ts';
import { logger } from '#shared/logger.ts';
import { refuseDeleted } from './deleted.ts';
import { authenticateSession } from './session.ts';
import { type CredentialVerifiers, holdToStanding } from './standing.ts';

/** Query parameters that carry credentials in other APIs (OAuth, GitLab, Google…): always refused. */
export const CREDENTIAL_QUERY_PARAMS = ['access_token', 'token', 'api_key', 'private_token', 'key'];

/** True when the query string names a credential parameter or carries an API token in any value. */
function credentialInQuery(qs: Record<string, string | undefined>, tokenPrefix: string): boolean {
  return Object.entries(qs).some(
    ([name, value]) =>
      CREDENTIAL_QUERY_PARAMS.includes(name.toLowerCase()) ||
      (value ?? '').split(',').some((v) => v.trim().startsWith(tokenPrefix)),
  );
}

/**
 * Extracts the bearer credential. Credentials in the query string (they end up in proxy logs,
 * browser history and Referer headers) are refused, whatever the header holds.
 */
export function bearer(event: APIGatewayProxyEventV2, tokenPrefix: string): string {
  if (credentialInQuery(event.queryStringParameters ?? {}, tokenPrefix)) {
    throw new UnauthorizedError('Send credentials in the Authorization header, never in the query string.', {
      error: 'invalid_request',
    });
  }
  const header = event.headers?.authorization;
  if (!header) throw new UnauthorizedError('Missing Authorization header.');
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1]) {
    throw new UnauthorizedError('The Authorization header must be "Bearer <token>".', {
      error: 'invalid_request',
    });
  }
  return match[1];
}

/**
 * Authenticates a request for a route: a session JWT, or (where the route allows it) an API token.
 * A session is then held to the service's membership record of its user in the workspace (one
 * read, which also brings the workspace's plan for the rate limiter): issued before the user's
 * latest recorded removal it is refused (403), before a demotion it acts with the recorded role.
 * A session whose user or workspace was deleted (tombstones read in that same round trip) is
 * refused whatever its age. API tokens need no such read: the membership events revoke or
 * restrict them at once, and a deletion's mark deactivates them.
 */
export async function authenticate(
  event: APIGatewayProxyEventV2,
  def: RouteDef,
  verifiers: CredentialVerifiers,
): Promise<Caller | undefined> {
  if (def.auth === 'public') return undefined;
  const credential = bearer(event, verifiers.tokenPrefix);
  if (credential.startsWith(verifiers.tokenPrefix)) {
    if (def.auth !== 'user_or_token') {
      throw new UnauthorizedError('This endpoint needs a user session; API tokens are not accepted here.', {
        error: 'invalid_token',
      });
    }
    return verifiers.token(credential);
  }
  const session = await authenticateSession(credential, event.headers?.['x-workspace-id']);
  if (!verifiers.sessionContext) return session;
  let context: Awaited<ReturnType<typeof verifiers.sessionContext>>;
  try {
    context = await verifiers.sessionContext(session.workspaceId, session.userId);
  } catch (err) {
    if (err instanceof AppError) throw err;
    // Authentication never fails open: without the record, a removed member would pass.
    logger.error('session context could not be read', { error: err as Error });
    throw new ServiceUnavailableError('Sessions cannot be checked right now; try again shortly.', {
      cause: err,
    });
  }
  if (context.deleted) refuseDeleted(context.deleted, session.workspaceId);
  return { ...holdToStanding(session, context.standing), ...(context.plan ? { plan: context.plan } : {}) };
}
