import { problem } from './problem.ts';
import type { HttpEvent, HttpResult } from './types.ts';

/**
 * The answer for a request no route matches: 404, or 405 with `Allow` when the path exists with
 * other methods. Served by the API's `$default` route in AWS and by the local server.
 */
export function fallbackResponse(event: HttpEvent, allow: string[]): HttpResult {
  const status = allow.length ? 405 : 404;
  const body = problem({
    status,
    code: status === 405 ? 'method-not-allowed' : 'not-found',
    title: status === 405 ? 'Method not allowed' : 'Not found',
    detail:
      status === 405
        ? `${event.requestContext.http.method} is not allowed here; use ${allow.join(', ')}.`
        : `No endpoint at ${event.requestContext.http.method} ${event.rawPath}.`,
    instance: event.rawPath,
    requestId: event.requestContext.requestId,
  });
  return {
    statusCode: status,
    headers: {
      'Content-Type': 'application/problem+json',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      ...(allow.length ? { Allow: allow.join(', ') } : {}),
    },
    body: JSON.stringify(body),
  };
}
