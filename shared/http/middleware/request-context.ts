import { randomUUID } from 'node:crypto';
import { currentCorrelation } from '#shared/correlation.ts';
import { logger } from '#shared/logger.ts';
import { flushMetrics, metrics } from '#shared/metrics.ts';
import type { RouteDef } from '../route.ts';
import { attachState, type HttpMiddleware, type HttpRequest } from '../types.ts';

/** The feature a route belongs to, for metric dimensions: its handler's folder (`tokens/create-token` → `tokens`). */
export function routeFeature(route: Pick<RouteDef, 'handler'>): string {
  return route.handler.split('/')[0] || 'unknown';
}

/**
 * Opens the request's state: route, request id (the correlation's, which the endpoint kit took from
 * API Gateway's, else a new one), start time, log keys and the Lambda context of every log line.
 * Closes it with the request's log line and metrics (`Requests`, `Http4xx`/`Http5xx`,
 * `RequestLatency` per feature and route), then flushes the invocation's metrics: it is the
 * first middleware, so its `after`/`onError` run last.
 */
export function requestContext(route: RouteDef): HttpMiddleware {
  return {
    name: 'request-context',
    before: (request: HttpRequest) => {
      const requestId =
        currentCorrelation()?.request_id || request.event.requestContext?.requestId || randomUUID();
      request.state = attachState(request.event, { route, requestId, startedAt: Date.now(), headers: {} });
      logger.resetKeys();
      if (request.context?.awsRequestId) logger.addContext(request.context);
      logger.appendKeys({ request_id: requestId, route: route.id });
    },
    after: (request: HttpRequest) => logDone(request),
    onError: (request: HttpRequest) => logDone(request),
  };
}

function logDone(request: HttpRequest) {
  const status = request.response?.statusCode ?? 500;
  const ms = Date.now() - (request.state?.startedAt ?? Date.now());
  const route = request.state?.route;
  if (route) {
    const dims = { feature: routeFeature(route), route: route.id };
    metrics.count('Requests', 1, dims);
    if (status >= 500) metrics.count('Http5xx', 1, dims);
    else if (status >= 400) metrics.count('Http4xx', 1, dims);
    metrics.duration('RequestLatency', ms, dims);
  }
  logger.info('request done', {
    method: request.event.requestContext?.http?.method,
    path: request.event.rawPath,
    status,
    duration_ms: ms,
    user_id: request.state?.caller?.userId,
    workspace_id: request.state?.caller?.workspaceId,
    token_id: request.state?.caller?.tokenId,
  });
  flushMetrics();
}
