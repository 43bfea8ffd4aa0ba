import { routes } from '#functions/routes.ts';
import { ServiceUnavailableError } from '#shared/errors.ts';
import { endpoint } from '#shared/http/endpoint.ts';
import { rateLimitOf } from '#shared/http/middleware/rate-limit.ts';
import { ok } from '#shared/http/reply.ts';

export const handler = endpoint(routes.getRateLimit, ({ event }) => {
  const state = rateLimitOf(event);
  if (!state) throw new ServiceUnavailableError('The rate limiter is unavailable right now.');
  return ok({
    subject: state.subject,
    plan: state.plan,
    limit: state.limit,
    remaining: state.remaining,
    used: state.used,
    window_seconds: state.windowSeconds,
    reset_at: new Date(state.resetAt * 1000).toISOString(),
  });
});
