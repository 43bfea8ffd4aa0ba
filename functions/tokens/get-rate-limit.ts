import { endpoint } from '#functions/endpoint.ts';
import { routes } from '#functions/tokens/routes.ts';
import { ServiceUnavailableError } from '#shared/errors.ts';
import { ok } from '#shared/http/reply.ts';
import { rateLimitStateOf } from '#shared/tokens/access.ts';

export const handler = endpoint(routes.getRateLimit, ({ caller }) => {
  const state = rateLimitStateOf(caller);
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
