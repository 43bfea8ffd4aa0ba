import { randomUUID } from 'node:crypto';
import { logger } from '#shared/logger.ts';
import type { RouteDef } from '../route.ts';
import { attachState, type HttpMiddleware, type HttpRequest } from '../types.ts';

/** Opens the request's state: route, request id (API Gateway's, else a new one), start time, log keys. */
export function requestContext(route: RouteDef): HttpMiddleware {
  return {
    name: 'request-context',
    before: (request: HttpRequest) => {
      const requestId = request.event.requestContext?.requestId || randomUUID();
      request.state = attachState(request.event, { route, requestId, startedAt: Date.now(), headers: {} });
      logger.resetKeys();
      logger.appendKeys({ request_id: requestId, route: route.id });
    },
    after: (request: HttpRequest) => logDone(request),
    onError: (request: HttpRequest) => logDone(request),
  };
}

function logDone(request: HttpRequest) {
  const status = request.response?.statusCode ?? 500;
  const ms = Date.now() - (request.state?.startedAt ?? Date.now());
  logger.info('request done', {
    method: request.event.requestContext?.http?.method,
    path: request.event.rawPath,
    status,
    duration_ms: ms,
    user_id: request.state?.caller?.userId,
    workspace_id: request.state?.caller?.workspaceId,
    token_id: request.state?.caller?.tokenId,
  });
}
