import { RateLimitedError } from '#shared/errors.ts';
import { logger } from '#shared/logger.ts';
import { consumeFor, type RateLimitState, rateLimitHeaders } from '#shared/tokens/rate-limit.ts';
import type { HttpEvent, HttpMiddleware, HttpRequest } from '../types.ts';

const states = new WeakMap<HttpEvent, RateLimitState>();

/** The rate-limit outcome of the request carrying `event` (for handlers that report it). */
export function rateLimitOf(event: HttpEvent): RateLimitState | undefined {
  return states.get(event);
}

/**
 * Counts every authenticated request against its fixed window, in the budget its route row
 * declares (`rateLimit`: the user's `api` budget in the workspace, shared by all their tokens and
 * sessions, or their `management` budget), and adds the rate-limit headers to the response,
 * error or not. Over the limit → 429 with Retry-After. `exempt` routes, and requests the row's
 * `rateLimitExemptIf` picks out, are neither counted nor refused and carry no rate-limit headers
 * (nothing was counted, so there is nothing true to report without another read). If the
 * counter store fails the request goes through unlimited (logged): the limiter must not turn a
 * DynamoDB hiccup into an outage of its own.
 */
export function rateLimit(): HttpMiddleware {
  return {
    name: 'rate-limit',
    before: async (request: HttpRequest) => {
      const { caller, route } = request.state;
      if (!caller) return;
      const budget = route.rateLimit ?? 'api';
      if (budget === 'exempt' || route.rateLimitExemptIf?.(request.event)) return;
      const now = Date.now();
      let state: RateLimitState;
      try {
        state = await consumeFor(caller, now, budget);
      } catch (err) {
        logger.error('rate limiter unavailable; request let through', { error: err as Error });
        return;
      }
      states.set(request.event, state);
      Object.assign(request.state.headers, rateLimitHeaders(state, now));
      if (!state.allowed) {
        const retryAfter = Math.max(1, state.resetAt - Math.floor(now / 1000));
        const what = state.budget === 'management' ? 'token-management requests' : 'requests';
        throw new RateLimitedError(
          `Rate limit of ${state.limit} ${what} per ${state.windowSeconds} s (${state.plan} plan) reached; retry after ${retryAfter} s.`,
          retryAfter,
        );
      }
    },
  };
}
