import { RateLimitedError } from '#shared/errors.ts';
import { logger } from '#shared/logger.ts';
import { metrics } from '#shared/metrics.ts';
import type { AccessControl } from '../access.ts';
import type { HttpMiddleware, HttpRequest } from '../types.ts';
import { routeFeature } from './request-context.ts';

/**
 * Counts every authenticated request in the budget its route row declares (`rateLimit`: `api`
 * by default, or `management`) through the access control's limiter, and adds the headers it
 * returns to the response, error or not. Refused → 429 with Retry-After. `exempt` routes, and
 * requests the row's `rateLimitExemptIf` picks out, are neither counted nor refused and carry no
 * rate-limit headers (nothing was counted, so there is nothing true to report without another
 * read). If the limiter fails, the request goes through unlimited (logged): the limiter must not
 * turn a DynamoDB hiccup into an outage of its own.
 */
export function rateLimit(access: AccessControl): HttpMiddleware {
  return {
    name: 'rate-limit',
    before: async (request: HttpRequest) => {
      const { caller, route } = request.state;
      if (!caller) return;
      const budget = route.rateLimit ?? 'api';
      if (budget === 'exempt' || route.rateLimitExemptIf?.(request.event)) return;
      let decision: Awaited<ReturnType<AccessControl['rateLimit']>>;
      try {
        decision = await access.rateLimit(caller, budget, Date.now());
      } catch (err) {
        logger.error('rate limiter unavailable; request let through', { error: err as Error });
        return;
      }
      Object.assign(request.state.headers, decision.headers);
      if (!decision.allowed) {
        metrics.count('RateLimited', 1, { feature: routeFeature(route), route: route.id });
        throw new RateLimitedError(decision.detail ?? 'Rate limit reached.', decision.retryAfterSeconds ?? 1);
      }
    },
  };
}
