import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { UnauthorizedError } from '#shared/errors.ts';
import type { Caller } from '#shared/http/caller.ts';
import type { RouteDef } from '#shared/http/route.ts';
import { authenticateToken } from '#shared/tokens/auth.ts';
import { TOKEN_PREFIX } from '#shared/tokens/format.ts';
import { authenticateSession } from './session.ts';

/** Prefix of PronaFlow personal access tokens. */
export const API_TOKEN_PREFIX = TOKEN_PREFIX;

/** Query parameters that carry credentials in other APIs (OAuth, GitLab, Google…): always refused. */
export const CREDENTIAL_QUERY_PARAMS = ['access_token', 'token', 'api_key', 'private_token', 'key'];

/** True when the query string names a credential parameter or carries an API token in any value. */
function credentialInQuery(qs: Record<string, string | undefined>): boolean {
  return Object.entries(qs).some(
    ([name, value]) =>
      CREDENTIAL_QUERY_PARAMS.includes(name.toLowerCase()) ||
      (value ?? '').split(',').some((v) => v.trim().startsWith(API_TOKEN_PREFIX)),
  );
}

/**
 * Extracts the bearer credential. Credentials in the query string (they end up in proxy logs,
 * browser history and Referer headers) are refused, whatever the header holds.
 */
export function bearer(event: APIGatewayProxyEventV2): string {
  if (credentialInQuery(event.queryStringParameters ?? {})) {
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
 */
export async function authenticate(
  event: APIGatewayProxyEventV2,
  def: RouteDef,
): Promise<Caller | undefined> {
  if (def.auth === 'public') return undefined;
  const credential = bearer(event);
  if (credential.startsWith(API_TOKEN_PREFIX)) {
    if (def.auth !== 'user_or_token') {
      throw new UnauthorizedError('This endpoint needs a user session; API tokens are not accepted here.', {
        error: 'invalid_token',
      });
    }
    return authenticateToken(credential);
  }
  return authenticateSession(credential, event.headers?.['x-workspace-id']);
}
