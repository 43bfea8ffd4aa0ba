import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { config } from '#shared/config.ts';
import { db, tableName } from '#shared/db/client.ts';
import { isConditionFailed } from '#shared/db/conditions.ts';
import { keys } from '#shared/db/keys.ts';
import type { Caller } from '#shared/http/caller.ts';
import { getWorkspacePlan, type Plan, planLimit } from './plans.ts';

/**
 * The budgets a request can spend (see `RateLimitClass` in the route table): `api`, shared by all
 * of a user's credentials in the workspace, and `management`, the user's token management, which
 * only sessions reach (those routes refuse API tokens), so no token can exhaust it.
 */
export type Budget = 'api' | 'management';

/** The outcome of counting one request against its fixed window. */
export interface RateLimitState {
  /** The credential the request came with (the budget is the user's, whichever it is). */
  subject: 'token' | 'session';
  /** Which of the user's budgets the request spent. */
  budget: Budget;
  plan: Plan;
  limit: number;
  /** Requests counted in this window, this one included (when allowed). */
  used: number;
  remaining: number;
  windowSeconds: number;
  /** Epoch seconds when the window ends and the count starts again. */
  resetAt: number;
  allowed: boolean;
}

/**
 * The counter key of a caller: one budget per user and workspace, shared by every credential of
 * that user there (all API tokens and session JWTs alike), as GitHub does, so minting more tokens
 * never buys more requests.
 */
export function rateSubject(caller: Pick<Caller, 'workspaceId' | 'userId'>, budget: Budget = 'api'): string {
  const key = `${encodeURIComponent(caller.workspaceId)}#${encodeURIComponent(caller.userId)}`;
  return budget === 'management' ? `MGMT#${key}` : `USER#${key}`;
}

/**
 * Counts a request in a fixed window of RATE_LIMIT_WINDOW_SECONDS with one atomic UpdateItem:
 * `ADD` guarded by `count < limit`, so concurrent requests can never pass the limit (refused
 * requests are not counted). One item per subject and window, removed by TTL.
 */
export async function consume(
  subject: string,
  plan: Plan,
  now = Date.now(),
  credential: RateLimitState['subject'] = 'session',
  budget: Budget = 'api',
): Promise<RateLimitState> {
  const windowSeconds = config().RATE_LIMIT_WINDOW_SECONDS;
  const limit = planLimit(plan);
  const nowSec = Math.floor(now / 1000);
  const windowStart = nowSec - (nowSec % windowSeconds);
  const resetAt = windowStart + windowSeconds;
  const base = {
    plan,
    limit,
    windowSeconds,
    resetAt,
    subject: credential,
    budget,
  } as const;
  try {
    const out = await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.rateWindow(subject, windowStart),
        UpdateExpression:
          'SET entity = if_not_exists(entity, :e), #ttl = if_not_exists(#ttl, :ttl) ADD #c :one',
        ConditionExpression: 'attribute_not_exists(#c) OR #c < :limit',
        ExpressionAttributeNames: { '#c': 'count', '#ttl': 'ttl' },
        ExpressionAttributeValues: { ':e': 'RateWindow', ':ttl': resetAt + 60, ':one': 1, ':limit': limit },
        ReturnValues: 'UPDATED_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    const used = Number(out.Attributes?.count ?? 1);
    return { ...base, used, remaining: Math.max(0, limit - used), allowed: true };
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
    // The old item comes back in wire format ({ N: "60" }) on the exception.
    const old = (err as { Item?: { count?: { N?: string } | number } }).Item?.count;
    const used = Number((typeof old === 'object' ? old.N : old) ?? limit);
    return { ...base, used, remaining: 0, allowed: false };
  }
}

/**
 * Counts a caller's request against one of its user's budgets in the workspace, with one call
 * (the counter): an API token's record carries its workspace's plan, and session authentication
 * read the plan with the membership record. (A caller without a plan reads the plan item first.)
 */
export async function consumeFor(
  caller: Caller,
  now = Date.now(),
  budget: Budget = 'api',
): Promise<RateLimitState> {
  const plan = caller.plan ?? (await getWorkspacePlan(caller.workspaceId)).plan;
  return consume(rateSubject(caller, budget), plan, now, caller.kind, budget);
}

/**
 * The rate-limit response headers: IETF draft `RateLimit-Policy` / `RateLimit` (structured
 * fields, the policy named after the plan, `-management` appended for that budget) and GitHub's
 * `X-RateLimit-*` (reset in epoch seconds; `X-RateLimit-Resource` names the budget, as GitHub's
 * `core`/`search`).
 */
export function rateLimitHeaders(state: RateLimitState, now = Date.now()): Record<string, string> {
  const secondsLeft = Math.max(0, state.resetAt - Math.floor(now / 1000));
  const policy = state.budget === 'management' ? `${state.plan}-management` : state.plan;
  return {
    'RateLimit-Policy': `"${policy}";q=${state.limit};w=${state.windowSeconds}`,
    RateLimit: `"${policy}";r=${state.remaining};t=${secondsLeft}`,
    'X-RateLimit-Limit': String(state.limit),
    'X-RateLimit-Remaining': String(state.remaining),
    'X-RateLimit-Reset': String(state.resetAt),
    'X-RateLimit-Used': String(state.used),
    'X-RateLimit-Resource': state.budget,
  };
}
