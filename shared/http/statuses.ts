/**
 * Every status an operation can answer, derived from its route row and the shared chain
 * (`endpoint.ts` and its middlewares), so the OpenAPI document cannot drift from what the chain
 * does. Statuses only a handler knows (409, 502, a provider's 503…) are declared in the row's
 * `responses`, with {@link problemResponse}.
 */
import * as v from 'valibot';
import type { Schema } from '#shared/validation.ts';
import { problemEntries, problemSchema } from './problem.ts';
import type { ResponseDef, RouteDef } from './route.ts';

/** A row's declaration of an error a handler can answer, with the problem+json schema. */
export const problemResponse = (description: string, schema: Schema = problemSchema): ResponseDef => ({
  description,
  schema,
});

/** The 403 the authorization middleware answers names what was missing. */
export const forbiddenProblemSchema = v.objectWithRest(
  {
    ...problemEntries,
    required_scopes: v.optional(
      v.pipe(v.array(v.string()), v.description('The scopes of which the caller lacks every one')),
    ),
    required_role: v.optional(
      v.pipe(v.picklist(['admin', 'operator']), v.description('The role the caller lacks')),
    ),
  },
  v.unknown(),
);

/** The 501 of a pending route names the missing capability. */
export const notImplementedProblemSchema = v.objectWithRest(
  { ...problemEntries, capability: v.string() },
  v.unknown(),
);

/** A status the shared chain can answer for a route, and why. */
export interface DerivedError {
  description: string;
  /** Problem schema (default: the plain problem, `#/components/schemas/Problem`). */
  schema?: Schema;
  /** Response headers the answer carries. */
  headers?: Record<string, { description: string; required?: boolean }>;
}

const hasPathParam = (r: RouteDef) => /\{\w+\}/.test(r.path);

/**
 * What the shared chain answers besides the handler's replies, per route:
 * - every route: 500 (an unexpected error, or a reply that breaks its route's schema), 413 (the
 *   body limit is enforced before the route is known to take a body);
 * - a route with a body: 400 (malformed JSON, invalid fields) and 415 (not JSON);
 * - a route with path or query parameters: 400 (invalid parameters);
 * - a route with path parameters (`{id}`, `{delivery_id}`, `{version}`…): 404 (they name no
 *   resource, or another tenant's);
 * - a route that is not public: 400 (a session in several workspaces without X-Workspace-Id),
 *   401, 403, 503 (credentials cannot be verified right now), and 429 unless its rate limit is
 *   `exempt`;
 * - a pending route: 501.
 */
export function derivedErrors(r: RouteDef): Record<number, DerivedError> {
  const out: Record<number, DerivedError> = {};
  const input: string[] = [];
  if (r.body) input.push('the body is not valid JSON or a field is invalid');
  if (r.params) input.push('a path parameter is invalid');
  if (r.query) input.push('a query parameter is invalid');
  if (r.auth !== 'public') input.push('a session in several workspaces names none (X-Workspace-Id)');
  if (input.length) {
    out[400] = { description: `Invalid input: ${input.join('; ')} (problem+json lists each bad field)` };
  }
  if (r.auth !== 'public') {
    out[401] = {
      description: 'Missing, invalid or expired credentials',
      headers: {
        'WWW-Authenticate': {
          description: 'The Bearer challenge, with the error when there is one',
          required: true,
        },
      },
    };
    out[403] = {
      description:
        'Not allowed: workspace membership, role (`required_role`) or token scope (`required_scopes`)',
      schema: forbiddenProblemSchema,
    };
  }
  if (hasPathParam(r)) out[404] = { description: "No such resource (another tenant's is never found)" };
  out[413] = { description: 'Body larger than the limit (MAX_BODY_SIZE_KB)' };
  if (r.body) out[415] = { description: 'Body is not JSON' };
  if (r.auth !== 'public' && r.rateLimit !== 'exempt') {
    out[429] = {
      description: 'Rate limit exceeded',
      headers: { 'Retry-After': { description: 'Seconds until a retry can succeed', required: true } },
    };
  }
  out[500] = { description: 'Internal error (nothing of its cause is said; quote the request_id)' };
  if (r.pending)
    out[501] = { description: `Not implemented yet: ${r.pending}`, schema: notImplementedProblemSchema };
  if (r.auth !== 'public')
    out[503] = { description: 'Credentials cannot be verified right now; try again shortly' };
  return out;
}

/** Every status the operation of `r` declares: its row's `responses` and the derived errors. */
export function declaredStatuses(r: RouteDef): number[] {
  return [...new Set([...Object.keys(r.responses), ...Object.keys(derivedErrors(r))].map(Number))].sort(
    (a, b) => a - b,
  );
}

/** False when the body schema accepts no body at all (the request body is then required). */
export function bodyOptional(r: RouteDef): boolean {
  return !!r.body && v.safeParse(r.body, undefined).success;
}
