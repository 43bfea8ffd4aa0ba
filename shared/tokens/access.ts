import type { AccessControl } from '#shared/http/access.ts';
import type { Caller } from '#shared/http/caller.ts';
import { assertTokenWorkspace, tokenCredentials } from './auth.ts';
import { consumeFor, type RateLimitState, rateLimitHeaders } from './rate-limit.ts';
import { satisfiesScopes } from './scopes.ts';
import { enqueueUsage } from './usage.ts';

/** The limiter's state of each request's caller, for `GET /rate-limit` (which reports it). */
const states = new WeakMap<Caller, RateLimitState>();

/** The rate-limit state the request of `caller` was counted with, if it was counted. */
export function rateLimitStateOf(caller: Caller): RateLimitState | undefined {
  return states.get(caller);
}

/**
 * What this feature gives the handler chain (`makeEndpoint`): API tokens and sessions held to
 * the membership record, tokens bound to their workspace, scopes as the catalog defines them,
 * the per-user budgets of the workspace's plan, and usage logs through the usage queue.
 */
export const tokensAccess: AccessControl = {
  credentials: tokenCredentials,
  assertWorkspace: assertTokenWorkspace,
  satisfiesScopes,
  rateLimit: async (caller, budget, nowMs) => {
    const state = await consumeFor(caller, nowMs, budget);
    states.set(caller, state);
    const headers = rateLimitHeaders(state, nowMs);
    if (state.allowed) return { allowed: true, headers };
    const retryAfterSeconds = Math.max(1, state.resetAt - Math.floor(nowMs / 1000));
    const what = state.budget === 'management' ? 'token-management requests' : 'requests';
    return {
      allowed: false,
      headers,
      retryAfterSeconds,
      detail: `Rate limit of ${state.limit} ${what} per ${state.windowSeconds} s (${state.plan} plan) reached; retry after ${retryAfterSeconds} s.`,
    };
  },
  recordUsage: enqueueUsage,
};
