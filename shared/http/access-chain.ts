import type { AccessControl } from './access.ts';
import { type MiddlewareChain, publicChain } from './endpoint.ts';
import { authentication, authorization } from './middleware/authenticate.ts';
import { errorHandler } from './middleware/error-handler.ts';
import { jsonBody } from './middleware/json-body.ts';
import { rateLimit } from './middleware/rate-limit.ts';
import { requestContext } from './middleware/request-context.ts';
import { responseHeaders } from './middleware/response-headers.ts';
import { usageAccounting } from './middleware/usage.ts';

/**
 * The chain of a service whose credentials `access` verifies. `before` hooks run in this order;
 * `after` and `onError` hooks in reverse, so the error handler has set the response before usage
 * is recorded, headers are added and the request is logged. The caller is established and counted
 * against its rate limit before anything else (so refused and malformed requests count and carry
 * the rate-limit headers, and no body is parsed for an unauthenticated caller); role and scopes
 * are checked after counting. Public routes run none of the access middlewares
 * ({@link publicChain}). Kept apart from `./endpoint.ts` so public functions bundle none of it.
 */
export function accessChain(access: AccessControl): MiddlewareChain {
  return (route) =>
    route.auth === 'public'
      ? publicChain(route)
      : [
          requestContext(route),
          responseHeaders(),
          usageAccounting(access),
          errorHandler(),
          authentication(access),
          rateLimit(access),
          authorization(access),
          jsonBody(),
        ];
}
