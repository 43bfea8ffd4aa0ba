import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { BucketId } from '#shared/bucket-catalog.ts';
import type { QueueId } from '#shared/queue-catalog.ts';
import type { Schema } from '#shared/validation.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * Who may call a route:
 * - `public`: anyone (health, OpenAPI, OAuth browser callback);
 * - `user`: a PronaFlow user session (JWT) only, e.g. managing API tokens;
 * - `user_or_token`: a session or an API token carrying the route's `scopes`.
 */
export type CallerKind = 'public' | 'user' | 'user_or_token';

/**
 * Which rate-limit budget a route's requests spend (all per user and workspace, per fixed window,
 * the limit from the workspace's plan):
 * - `api` (default): the user's budget, shared by all their API tokens and sessions;
 * - `management`: credential management, for session-only routes: a budget of its own that no
 *   API token can spend, so a leaked token that exhausts the API budget cannot lock its owner
 *   out of managing (and revoking) it;
 * - `exempt`: never counted nor refused (revoking a credential must always be possible); its
 *   answers carry no rate-limit headers, since nothing was counted.
 */
export type RateLimitClass = 'api' | 'management' | 'exempt';

export interface ResponseDef {
  description: string;
  schema?: Schema;
  /** Content type when not JSON (e.g. `text/html`). */
  contentType?: string;
}

/** One row of the route table. */
export interface RouteDef<P extends Schema = Schema, Q extends Schema = Schema, B extends Schema = Schema> {
  /** Stable identifier; also the OpenAPI operationId and the Lambda's logical name. */
  id: string;
  method: HttpMethod;
  /** Path under the API prefix, with `{param}` placeholders. */
  path: string;
  /** Handler module under `functions/`, without extension, e.g. `tokens/create-token`. */
  handler: string;
  auth: CallerKind;
  /** Scopes an API token must carry (any one of them is enough when `anyScope`). */
  scopes: string[];
  /**
   * What the caller must be beyond a member (default: any member): `admin`, the workspace admin
   * role; `operator`, a PronaFlow operator (the session's `operator` claim, or an API token its
   * operator created), whatever their workspace role.
   */
  role?: 'admin' | 'operator';
  /** The rate-limit budget the route spends (default `api`); see {@link RateLimitClass}. */
  rateLimit?: RateLimitClass;
  /**
   * Requests of the route that are `exempt` whatever its class, judged on the raw event before
   * the body is parsed (e.g. a PATCH that only switches a credential off).
   */
  rateLimitExemptIf?: (event: APIGatewayProxyEventV2) => boolean;
  summary: string;
  tag: string;
  params?: P;
  query?: Q;
  body?: B;
  responses: Record<number, ResponseDef>;
  /** Set while the route answers 501: names the capability that is still missing. */
  pending?: string;
  /** Permissions the route's Lambda needs beyond those every authenticated route gets (see {@link routeGrants}). */
  grants?: Grant[];
  /** Lambda timeout (default 20 s; API Gateway stops waiting at 30 s). */
  timeoutSeconds?: number;
}

/** Permissions a Lambda may be granted; the CDK stack maps each to a least-privilege policy. */
export type Grant =
  | 'table:read'
  | 'table:write'
  /** Full-table scans: maintenance jobs only (re-encryption after a key rotation). */
  | 'table:scan'
  /** Sends to one queue of the catalog (`shared/queue-catalog.ts`): a new queue brings its grant. */
  | `queue:${QueueId}:send`
  /** Parks a finally failed delivery in the deliveries DLQ. */
  | 'queue:deliveries-dlq:send'
  /** Reads the attributes (depth) of every DLQ (GetQueueAttributes only): the operators' status view. */
  | 'queue:dlqs:read-attributes'
  /** Reads objects (GetObject, HeadObject, by version too) of one bucket of the catalog (`shared/bucket-catalog.ts`). */
  | `bucket:${BucketId}:read`
  /** Writes and deletes objects of one bucket, and signs presigned uploads to it (a POST is authorized as the signer). */
  | `bucket:${BucketId}:write`
  | 'secrets:oauth:read'
  | 'secrets:keys:read';

/** The API prefix every route lives under. */
export const API_PREFIX = '/v1/integration';

/** Declares a route with its schemas' types carried through to the handler. */
export function route<P extends Schema = Schema, Q extends Schema = Schema, B extends Schema = Schema>(
  def: RouteDef<P, Q, B>,
): RouteDef<P, Q, B> {
  return def;
}

/** Full HTTP path of a route, e.g. `/v1/integration/tokens/{id}`. */
export function fullPath(def: Pick<RouteDef, 'path'>): string {
  return `${API_PREFIX}${def.path}`;
}

/**
 * Every permission a route's Lambda gets: its own `grants`, plus what the shared middleware chain
 * needs on authenticated routes — the table (API-token lookup, rate-limit counters) and, where
 * API tokens are accepted, the usage queue (usage accounting).
 */
export function routeGrants(def: Pick<RouteDef, 'auth' | 'grants'>): Grant[] {
  const implied: Grant[] =
    def.auth === 'public'
      ? []
      : def.auth === 'user'
        ? ['table:read', 'table:write']
        : ['table:read', 'table:write', 'queue:usage:send'];
  return [...new Set([...implied, ...(def.grants ?? [])])].sort();
}

/** What a feature states once for all its route rows (`functions/<feature>/routes.ts`). */
export interface RouteDefaults {
  /** OpenAPI tag (and the capability's name in `GET /status`). */
  tag: string;
  auth?: CallerKind;
  scopes?: string[];
  grants?: Grant[];
  rateLimit?: RateLimitClass;
}

/** A feature's route row: what the feature's {@link RouteDefaults} state may be left out (or overridden). */
export type RouteRow<P extends Schema, Q extends Schema, B extends Schema> = Omit<
  RouteDef<P, Q, B>,
  'tag' | 'auth' | 'scopes'
> &
  Partial<Pick<RouteDef<P, Q, B>, 'tag' | 'auth' | 'scopes'>>;

/**
 * {@link route} with a feature's defaults: `const route = featureRoute({ tag: 'API tokens', auth: 'user' })`.
 * A row's own value wins over the default; a row's `grants` replace the default grants (they are not
 * merged: what a row lists is all it gets beyond {@link routeGrants}' implied ones).
 */
export function featureRoute(defaults: RouteDefaults) {
  return <P extends Schema = Schema, Q extends Schema = Schema, B extends Schema = Schema>(
    row: RouteRow<P, Q, B>,
  ): RouteDef<P, Q, B> => {
    const auth = row.auth ?? defaults.auth;
    if (!auth) throw new Error(`Route ${row.id}: no auth, and the feature ${defaults.tag} sets no default`);
    const grants = row.grants ?? defaults.grants;
    const rateLimit = row.rateLimit ?? defaults.rateLimit;
    return {
      ...row,
      tag: row.tag ?? defaults.tag,
      auth,
      scopes: row.scopes ?? defaults.scopes ?? [],
      ...(grants ? { grants } : {}),
      ...(rateLimit ? { rateLimit } : {}),
    };
  };
}
