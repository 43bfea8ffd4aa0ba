/**
 * A typed client of the PronaFlow Integrations API, for consumers and tests (never bundled into a
 * Lambda: nothing under functions/ may import it, a lint rule in biome.json).
 *
 * The types come from ./schema.ts, generated from the OpenAPI document by `npm run client:gen`;
 * the transport is openapi-fetch. Every call answers `{ data, response }` or `{ error, response }`
 * where `error` is the operation's problem+json union; with `throwOnError: true` a failed call
 * throws a {@link ProblemError} instead and the answer is always `{ data, response }`.
 */
import createFetchClient, {
  type Client,
  type FetchResponse,
  type MaybeOptionalInit,
  type Middleware,
} from 'openapi-fetch';
import type { HttpMethod, MediaType, PathsWithMethod, RequiredKeysOf } from 'openapi-typescript-helpers';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import type { components, operations, paths } from './schema.ts';

export type { components, operations, paths };

/** RFC 9457 problem details, the body of every error answer. */
export type Problem = components['schemas']['Problem'];

export interface ClientOptions {
  /** The service's origin, e.g. `http://127.0.0.1:3000` (the paths carry `/v1/integration`). */
  baseUrl: string;
  /** A session JWT or a personal access token (`pfi_…`), sent as `Authorization: Bearer`. */
  token?: string;
  /** The workspace a session acts in (`X-Workspace-Id`), when the user belongs to several. */
  workspaceId?: string;
  /** Throw a {@link ProblemError} on any non-2xx answer instead of returning `{ error }`. */
  throwOnError?: boolean;
  /** A fetch of your own (tests, proxies). */
  fetch?: (input: Request) => Promise<Response>;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
}

/** A failed call in throwing mode: the problem+json body, with its fields at hand. */
export class ProblemError extends Error {
  readonly status: number;
  readonly type: string;
  readonly title: string;
  readonly detail: string;
  readonly errors: { path: string; message: string }[];
  readonly problem: Problem;
  readonly response: Response;

  constructor(problem: Problem, response: Response) {
    super(`${problem.status} ${problem.title}: ${problem.detail}`);
    this.name = 'ProblemError';
    this.problem = problem;
    this.response = response;
    this.status = problem.status;
    this.type = problem.type;
    this.title = problem.title;
    this.detail = problem.detail;
    this.errors = problem.errors ?? [];
  }
}

/** A problem from any error body (a proxy's HTML page or an empty body still yields one). */
function toProblem(body: unknown, response: Response): Problem {
  if (body && typeof body === 'object' && typeof (body as Problem).type === 'string') return body as Problem;
  return {
    type: 'about:blank',
    title: response.statusText || 'Error',
    status: response.status,
    detail: typeof body === 'string' && body ? body : `HTTP ${response.status}`,
  };
}

type InitParam<Init> =
  RequiredKeysOf<Init> extends never
    ? [(Init & { [key: string]: unknown })?]
    : [Init & { [key: string]: unknown }];

/** What a call answers in throwing mode: only the success member of openapi-fetch's union. */
type ThrowingMethod<Paths extends {}, M extends HttpMethod> = <
  Path extends PathsWithMethod<Paths, M>,
  Init extends MaybeOptionalInit<Paths[Path], M & keyof Paths[Path]>,
>(
  url: Path,
  ...init: InitParam<Init>
) => Promise<{
  data: NonNullable<
    FetchResponse<
      Paths[Path][M & keyof Paths[Path]] & Record<string | number, unknown>,
      Init,
      MediaType
    >['data']
  >;
  response: Response;
}>;

/** A client that returns `{ data } | { error: Problem }` per operation. */
export type PronaFlowClient = Client<paths>;

/** A client that throws {@link ProblemError} on failure and returns `{ data }`. */
export interface ThrowingPronaFlowClient {
  GET: ThrowingMethod<paths, 'get'>;
  POST: ThrowingMethod<paths, 'post'>;
  PUT: ThrowingMethod<paths, 'put'>;
  PATCH: ThrowingMethod<paths, 'patch'>;
  DELETE: ThrowingMethod<paths, 'delete'>;
  /** The underlying non-throwing client (e.g. to inspect an expected error). */
  raw: PronaFlowClient;
}

export function createClient(options: ClientOptions & { throwOnError: true }): ThrowingPronaFlowClient;
export function createClient(options: ClientOptions & { throwOnError?: false }): PronaFlowClient;
export function createClient(options: ClientOptions): PronaFlowClient | ThrowingPronaFlowClient {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.workspaceId) headers['x-workspace-id'] = options.workspaceId;
  const client = createFetchClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    headers,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  // Error bodies are problem+json; anything else (a proxy's page) is still shaped as a Problem.
  const normalise: Middleware = {
    async onResponse({ response }) {
      if (response.ok) return undefined;
      const text = await response.clone().text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {}
      const problem = toProblem(body, response);
      if (problem === body) return undefined;
      return new Response(JSON.stringify(problem), {
        status: response.status,
        statusText: response.statusText,
        headers: { ...Object.fromEntries(response.headers), 'content-type': 'application/problem+json' },
      });
    },
  };
  client.use(normalise);
  if (!options.throwOnError) return client;

  const throwing = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE') =>
    (async (url: string, init?: Record<string, unknown>) => {
      // biome-ignore lint/suspicious/noExplicitAny: the typed signature is ThrowingMethod's
      const result = await (client[method] as any)(url, init);
      if (result.error !== undefined) throw new ProblemError(result.error as Problem, result.response);
      return result;
    }) as never;
  return {
    GET: throwing('GET'),
    POST: throwing('POST'),
    PUT: throwing('PUT'),
    PATCH: throwing('PATCH'),
    DELETE: throwing('DELETE'),
    raw: client,
  };
}

/** The problem of a failed call, or `undefined` on success (a type guard for error branches). */
export function isProblem(value: unknown): value is Problem {
  return (
    !!value &&
    typeof value === 'object' &&
    typeof (value as Problem).type === 'string' &&
    typeof (value as Problem).status === 'number'
  );
}

export { WebhookVerificationError };

/**
 * Verifies a Standard Webhooks delivery (`webhook-id`, `webhook-timestamp`, `webhook-signature`)
 * with the endpoint's signing secret (`whsec_…`) over the raw body (the exact bytes received,
 * never a re-serialised object) and returns the parsed payload. Throws
 * {@link WebhookVerificationError} on a bad signature, a missing header or a stale timestamp.
 */
export function verifyWebhook<T = unknown>(
  secret: string,
  headers: Headers | Record<string, string | string[] | undefined>,
  rawBody: string | Buffer,
): T {
  const flat: Record<string, string> = {};
  if (headers instanceof Headers) {
    headers.forEach((value, key) => {
      flat[key] = value;
    });
  } else {
    for (const [key, value] of Object.entries(headers)) {
      if (value !== undefined) flat[key.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
    }
  }
  return new Webhook(secret).verify(rawBody, flat) as T;
}
