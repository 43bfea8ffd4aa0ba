import type { CredentialVerifiers } from '#shared/auth/standing.ts';
import type { Caller } from './caller.ts';
import type { RouteDef } from './route.ts';

/** The budget a route row spends (`rateLimit`, default `api`); `exempt` routes never reach the limiter. */
export type RateBudget = Exclude<NonNullable<RouteDef['rateLimit']>, 'exempt'>;

/** What the rate limiter decided for one request. */
export interface RateLimitDecision {
  allowed: boolean;
  /** Response headers describing the window, added to the answer whether allowed or not. */
  headers: Record<string, string>;
  /** When refused: seconds until a retry can succeed (`Retry-After`) and the 429's detail. */
  retryAfterSeconds?: number;
  detail?: string;
}

/** One API-token request, as usage accounting records it once the response is known. */
export interface UsageRecord {
  id: string;
  token_id: string;
  user_id: string;
  workspace_id: string;
  method: string;
  route: string;
  status: number;
  latency_ms: number;
  at: string;
  client_ip: string | null;
}

/**
 * What a feature that issues credentials gives the handler chain (the platform knows none of it):
 * how to verify an API token and load a session's context, which workspace a credential may act
 * in, whether it holds a route's scopes, the rate limiter and usage accounting. The tokens
 * feature provides it; `makeEndpoint(accessChain(access))` builds the chain with it.
 */
export interface AccessControl {
  credentials: CredentialVerifiers;
  /** Throws (403) when the caller may not act in the workspace the request names. */
  assertWorkspace: (caller: Caller, requested: string | undefined) => void;
  /** True when the caller holds one of `scopes` (none required → true). */
  satisfiesScopes: (caller: Caller, scopes: string[]) => boolean;
  /** Counts the request against the caller's `budget`. */
  rateLimit: (caller: Caller, budget: RateBudget, nowMs: number) => Promise<RateLimitDecision>;
  /** Records an API-token request (never on the request's critical path: failures are logged). */
  recordUsage: (record: UsageRecord) => Promise<void>;
}
