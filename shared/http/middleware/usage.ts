import { logger } from '#shared/logger.ts';
import type { AccessControl } from '../access.ts';
import type { HttpMiddleware, HttpRequest } from '../types.ts';

/**
 * Records each API-token request (token, method, route, status, latency, time, client IP) through
 * the access control once the response is known (the tokens feature queues it for its
 * `record-usage` worker: no DynamoDB call on the request path). A failure never fails the request.
 */
export function usageAccounting(access: AccessControl): HttpMiddleware {
  const record = async (request: HttpRequest) => {
    const caller = request.state?.caller;
    if (caller?.kind !== 'token' || !caller.tokenId) return;
    const { route, requestId, startedAt } = request.state;
    try {
      await access.recordUsage({
        id: requestId,
        token_id: caller.tokenId,
        user_id: caller.userId,
        workspace_id: caller.workspaceId,
        method: route.method,
        route: route.path,
        status: request.response?.statusCode ?? 500,
        latency_ms: Math.max(0, Date.now() - startedAt),
        at: new Date(startedAt).toISOString(),
        client_ip: request.event.requestContext?.http?.sourceIp ?? null,
      });
    } catch (err) {
      logger.error('usage record not queued', { error: err as Error, token_id: caller.tokenId });
    }
  };
  return { name: 'usage-accounting', after: record, onError: record };
}
