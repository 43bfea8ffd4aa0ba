/**
 * Every problem type the service can answer with (the `code` of an `AppError`, or of a problem
 * the shared chain builds itself: `internal-error`, `method-not-allowed`), and what its page
 * (`GET /v1/integration/problems/{name}`) says: title, HTTP status, an explanation and how to fix
 * it. A problem's `type` URI is `https://docs.pronaflow.com/integration/problems/<name>`
 * ({@link problemTypeUri}); that public address proxies to the service's page of the same name.
 * `test/unit/http/problem-catalog.test.ts` checks every code the sources can emit is listed here.
 */
import { problemTypeUri } from './problem.ts';

export interface ProblemTypeDoc {
  title: string;
  status: number;
  description: string;
  how_to_fix: string[];
  /** The tag of the only operations that answer it (its feature); none: any operation may. */
  tag?: string;
}

export const PROBLEM_CATALOG = {
  'validation-error': {
    title: 'Your request is not valid',
    status: 400,
    description:
      'The request was refused before anything was done: the body is not valid JSON, a field of the body, a path parameter or a query parameter breaks the schema of the operation, or a session that belongs to several workspaces named none.',
    how_to_fix: [
      'Read `errors[]`: each entry names one bad field by `path` (`body.name`, `query.limit`, `path.id`) and says what is wrong in `message`.',
      'At most 20 field errors are listed; `errors_omitted` counts the rest, so fix these and send again.',
      'Compare the request with the operation in the OpenAPI document (`GET /v1/integration/openapi.json`): values are strict (no coercion, `"5"` is not an integer) and unknown keys are errors.',
      'With a session in several workspaces, send `X-Workspace-Id`.',
    ],
  },
  unauthorized: {
    title: 'Authentication required',
    status: 401,
    description:
      'The request carries no credentials, or its session JWT or API token is invalid, expired or revoked.',
    how_to_fix: [
      'Send `Authorization: Bearer <session JWT or pfi_… API token>`.',
      'Read the `WWW-Authenticate` header: its `error` and `error_description` say why the credentials were refused (e.g. `invalid_token`).',
      'An expired session: sign in again; a revoked or expired API token: create or rotate one.',
    ],
  },
  forbidden: {
    title: 'Not allowed',
    status: 403,
    description:
      'The caller is authenticated but may not do this: not a member of the workspace, lacking a role, or using an API token without a required scope.',
    how_to_fix: [
      'Read `required_scopes`: an API token needs one of them; create a token that carries it.',
      'Read `required_role`: the action needs a workspace `admin` or a PronaFlow `operator`; ask one to do it or to grant the role.',
      'Check `X-Workspace-Id` names a workspace you belong to.',
    ],
  },
  'not-found': {
    title: 'Not found',
    status: 404,
    description:
      'Nothing answers at this path, or the resource named by the path does not exist. A resource of another workspace is never found either, so its existence is not revealed.',
    how_to_fix: [
      'Check the id in the path: list the collection to find the ids that exist.',
      'Check the workspace: a resource is only found in the workspace it belongs to (`X-Workspace-Id`, or the token’s workspace).',
      'Check the path against the OpenAPI document (`GET /v1/integration/openapi.json`); every path starts with `/v1/integration`.',
    ],
  },
  'method-not-allowed': {
    title: 'Method not allowed',
    status: 405,
    description: 'The path exists but does not accept this HTTP method.',
    how_to_fix: ['Read the `Allow` header: it lists the methods the path accepts; use one of them.'],
  },
  conflict: {
    title: 'Conflict',
    status: 409,
    description:
      'The request is valid but clashes with the current state: e.g. a limit is reached (`max_active_tokens`), the resource is already in the state asked for, or it is being deleted.',
    how_to_fix: [
      'Read `detail` and any extra members (e.g. `max_active_tokens`): they name the clash.',
      'Fetch the resource again to see its current state, then decide whether to retry.',
      'Free the slot the limit counts (revoke an unused token, remove an endpoint) before creating another.',
    ],
  },
  'payload-too-large': {
    title: 'Request body too large',
    status: 413,
    description: 'The request body is larger than the service accepts (`MAX_BODY_SIZE_KB`).',
    how_to_fix: [
      'Read `detail`: it gives the size sent and the limit in bytes.',
      'Send a smaller body: fewer items per request, or shorter values.',
    ],
  },
  'unsupported-media-type': {
    title: 'Unsupported media type',
    status: 415,
    description: 'The request body is sent with a `Content-Type` other than JSON.',
    how_to_fix: ['Send the body as JSON with `Content-Type: application/json`.'],
  },
  'rate-limited': {
    title: 'Too many requests',
    status: 429,
    description:
      'The caller has spent its rate-limit budget for the current window (per user and workspace; credential management has a budget of its own).',
    how_to_fix: [
      'Wait the number of seconds in `Retry-After`, then retry.',
      'Read `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (epoch seconds) and `X-RateLimit-Resource` (which budget), or the `RateLimit` / `RateLimit-Policy` headers, on every answer to pace requests before reaching the limit.',
      'Spread calls over time or batch them; every API token and session of a user shares one budget.',
    ],
  },
  'oauth-invalid-state': {
    tag: 'OAuth',
    title: 'Invalid OAuth state',
    status: 400,
    description:
      'The `state` of an OAuth callback is unknown, expired, already used, or was started by another user or workspace.',
    how_to_fix: [
      'Start the authorization again (`POST /v1/integration/oauth/connections`) and complete it once, as the same user in the same workspace, before the state expires.',
    ],
  },
  'oauth-authorization-denied': {
    tag: 'OAuth',
    title: 'Authorization not granted',
    status: 400,
    description:
      'The provider redirected back with an error instead of a code: the user or provider declined.',
    how_to_fix: [
      'Read `provider_error` (e.g. `access_denied`): the provider’s reason.',
      'Start the authorization again and accept the requested scopes at the provider.',
    ],
  },
  'oauth-invalid-grant': {
    tag: 'OAuth',
    title: 'Authorization code refused',
    status: 400,
    description:
      'The provider refused the authorization code when it was exchanged: it is invalid, expired or already used.',
    how_to_fix: [
      'Start the authorization again and send the new code promptly, once.',
      'Read `provider_error` and `oauth_app_id` to see which provider refused and why.',
    ],
  },
  'oauth-connection-expired': {
    tag: 'OAuth',
    title: 'Connection expired',
    status: 409,
    description:
      'The OAuth connection cannot give a usable access token any more (revoked, or its refresh token is gone).',
    how_to_fix: ['Connect the app again (a new authorization); `connection_id` names the connection.'],
  },
  'oauth-refresh-paused': {
    tag: 'OAuth',
    title: 'Connection cannot be refreshed now',
    status: 409,
    description:
      'The connection’s access token has expired and its automatic refresh is paused after failed attempts (cooling down, or out of attempts).',
    how_to_fix: [
      'During a cooldown, wait the seconds in `Retry-After` (or until `retry_at`) and try again.',
      'Read `last_error_code` for why the refresh failed; refresh the connection manually, or connect the app again.',
    ],
  },
  'consent-required': {
    tag: 'Sync bindings',
    title: 'Consent required',
    status: 403,
    description:
      'A sync binding moves data between PronaFlow and a third party through an OAuth connection: that needs a live THIRD_PARTY consent of the connection’s owner for it, and there is none (never granted, revoked, expired, or given under an older policy version).',
    how_to_fix: [
      'Read `consent_required`: it names the consent (`consent_type`, `resource_type`, `resource_id`).',
      'The connection’s owner grants it with `POST /v1/integration/consents` and exactly those three members, then retries.',
      'A binding paused because its consent was revoked resumes with `PATCH /v1/integration/bindings/{id}` `{ "active": true }` once the consent is granted again.',
    ],
  },
  'internal-error': {
    title: 'Internal server error',
    status: 500,
    description: 'Something went wrong on the service’s side; nothing of the cause is said.',
    how_to_fix: [
      'Retry later; if it persists, contact support quoting `request_id` (also the `X-Request-Id` header).',
    ],
  },
  'not-implemented': {
    title: 'Not implemented yet',
    status: 501,
    description: 'The operation is declared but its capability is not built yet.',
    how_to_fix: [
      'Read `capability`; `GET /v1/integration/status` lists which capabilities are available.',
      'Do not retry: the answer will not change until a release adds the capability.',
    ],
  },
  'upstream-error': {
    title: 'Upstream service error',
    status: 502,
    description: 'A service this one calls (e.g. an OAuth provider) failed or answered something unusable.',
    how_to_fix: [
      'Read `provider_error`, `provider_error_description` and `oauth_app_id` when present: the provider’s own answer.',
      'Retry later with backoff when the failure is transient (a timeout, a 5xx of the provider); fix the app’s configuration when the provider refused it.',
    ],
  },
  'service-unavailable': {
    title: 'Service unavailable',
    status: 503,
    description: 'A dependency needed to answer (e.g. verifying credentials) is unavailable right now.',
    how_to_fix: ['Retry shortly with backoff, honouring `Retry-After` when it is present.'],
  },
} as const satisfies Record<string, ProblemTypeDoc>;

export type ProblemName = keyof typeof PROBLEM_CATALOG;

export const isProblemName = (name: string): name is ProblemName => Object.hasOwn(PROBLEM_CATALOG, name);

/** A problem type's page as JSON (`GET /problems/{name}`). */
export function problemTypeJson(name: ProblemName) {
  const doc = PROBLEM_CATALOG[name];
  return {
    name,
    type: problemTypeUri(name),
    title: doc.title,
    status: doc.status,
    description: doc.description,
    how_to_fix: [...doc.how_to_fix],
  };
}

export const problemNames = () => Object.keys(PROBLEM_CATALOG) as ProblemName[];

/** The problem types an answer of `status` of an operation tagged `tag` can carry. */
export const problemNamesFor = (status: number, tag: string): ProblemName[] =>
  problemNames().filter((n) => {
    const doc: ProblemTypeDoc = PROBLEM_CATALOG[n];
    return doc.status === status && (doc.tag === undefined || doc.tag === tag);
  });
