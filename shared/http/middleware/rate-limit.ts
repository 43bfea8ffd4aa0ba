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
 * Counts every authenticated request against its fixed window (per API token, or per user and
 * workspace for sessions) and adds the rate-limit headers to the response, error or not. Over
 * the limit → 429 with Retry-After. If the counter store fails the request goes through
 * unlimited (logged): the limiter must not turn a DynamoDB hiccup into an outage of its own.
 */
export function rateLimit(): HttpMiddleware {
  return {
    name: 'rate-limit',
    before: async (request: HttpRequest) => {
      const { caller } = request.state;
      if (!caller) return;
      const now = Date.now();
      let state: RateLimitState;
      try {
        state = await consumeFor(caller, now);
      } catch (err) {
        logger.error('rate limiter unavailable; request let through', { error: err as Error });
        return;
      }
      states.set(request.event, state);
      Object.assign(request.state.headers, rateLimitHeaders(state, now));
      if (!state.allowed) {
        const retryAfter = Math.max(1, state.resetAt - Math.floor(now / 1000));
        throw new RateLimitedError(
          `Rate limit of ${state.limit} requests per ${state.windowSeconds} s (${state.plan} plan) reached; retry after ${retryAfter} s.`,
          retryAfter,
        );
      }
    },
  };
}
