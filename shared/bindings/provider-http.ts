/**
 * The provider client of one sync run (implements {@link ProviderHttp}): every call of an adapter
 * goes through it, so the adapters know nothing of tokens, the URL guard, rate-limit waits or the
 * invocation's deadline.
 *
 * - URLs: a path below the app's `api_base_url`, or an absolute URL the provider gave (a `Link`
 *   next page) on the same origin; anything else is refused before a socket is opened.
 * - Outbound calls: `requestChecked` (resolve, check, pin), so a provider base URL that resolves
 *   to a private address is refused like a webhook URL would be.
 * - Tokens: the connection's access token (refreshed first when due, see accessTokenFor), held for
 *   the client's life; refused once (401, or what the adapter's `authFailed` says), it is refreshed
 *   and the call retried; refused again, {@link ConnectionRejected}.
 * - Rate limits: the adapter reads them; a wait that fits inline (and before the deadline) is slept
 *   out and the call retried, a longer one is {@link RescheduleRun} for the engine to resume later.
 * - Conditional GETs: `If-None-Match` from the ETags the engine persists between runs.
 */
import { ConfigError } from '#shared/config.ts';
import { logger } from '#shared/logger.ts';
import {
  type PinnedRequester,
  type PinnedResponse,
  requestChecked,
  requestPinned,
} from '#shared/net/pinned-http.ts';
import { UnsafeTargetError } from '#shared/net/url-guard.ts';
import type { OAuthApp } from '#shared/oauth/catalog.ts';
import { openAccessToken } from '#shared/oauth/connections.ts';
import type { ConnectionItem } from '#shared/oauth/connections-repo.ts';
import { ProviderError } from '#shared/oauth/provider.ts';
import {
  accessTokenFor,
  ConnectionExpiredError,
  RefreshPausedError,
  refreshConnection,
} from '#shared/oauth/refresh.ts';
import {
  ConnectionRejected,
  ProviderCallError,
  type ProviderHttp,
  type ProviderRequest,
  type ProviderResponse,
  RescheduleRun,
  type SyncAdapter,
} from './adapter.ts';

/** Longest one provider call may take (never past the run's deadline). */
export const PROVIDER_TIMEOUT_MS = 15_000;
/** Response bytes read: a page of 100 GitHub issues with long bodies stays well below it. */
export const PROVIDER_BODY_LIMIT = 8 * 1024 * 1024;
/** Longest rate-limit wait slept out inside the invocation (longer ones reschedule the run). */
export const DEFAULT_MAX_INLINE_WAIT_MS = 20_000;
/** Rate-limited answers to one request waited out inline before the run is rescheduled instead. */
export const MAX_RATE_LIMIT_RETRIES = 5;
/** Time a call needs at least: none is started (nor a wait slept) with less left before the deadline. */
export const MIN_CALL_MS = 1_000;
/**
 * Response headers an adapter needs, kept whatever pinned-http's header cap (a GitHub answer
 * carries 30 and more headers; the rate-limit and paging ones come late).
 */
const KEEP_HEADERS = ['link', 'etag', 'retry-after', 'x-ratelimit-*', 'location', 'content-type'];
const USER_AGENT = 'PronaFlow-Integrations';

/** Counters of one run, mutated in place (the engine stores them with the run). */
export interface ProviderStats {
  /** Requests actually sent (retries included). */
  provider_calls: number;
  /** Rate-limited answers, waited out inline or rescheduled. */
  rate_limit_waits: number;
  /** 304 answers to conditional GETs (nothing changed; GitHub does not count them against the quota). */
  not_modified: number;
  /** Sum of the waits rate limits asked for (inline and rescheduled). */
  rate_limit_wait_ms: number;
}

export const emptyProviderStats = (): ProviderStats => ({
  provider_calls: 0,
  rate_limit_waits: 0,
  not_modified: 0,
  rate_limit_wait_ms: 0,
});

export interface ProviderHttpOptions {
  app: OAuthApp;
  connection: ConnectionItem;
  adapter: SyncAdapter;
  /** Epoch ms (on `now`'s clock): the invocation must have stopped calling by then. */
  deadline: number;
  /** In/out: the ETag per `etagKey`, persisted by the engine between runs. */
  etags: Map<string, string>;
  stats: ProviderStats;
  /** The clock of deadlines and rate-limit waits (epoch ms); tokens are judged on real time. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** @default DEFAULT_MAX_INLINE_WAIT_MS */
  maxInlineWaitMs?: number;
  /** Replaces the socket-level sender (tests); the URL guard still runs. */
  send?: PinnedRequester;
}

/**
 * A `RescheduleRun` raised because the invocation's deadline leaves no time for another call:
 * the engine saves the run's place and resumes it at once (`resumeAt` is now), as for a rate
 * limit. Its `kind` is `retry_after` (the interface has no other fitting kind).
 */
export class DeadlineReached extends RescheduleRun {
  override name = 'DeadlineReached';
  constructor(now: number) {
    super(now, 'retry_after');
    this.message = 'The invocation deadline leaves no time for another provider call; resume the run';
  }
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Creates the provider client of one run. Throws ProviderCallError when the app has no API base URL. */
export function createProviderHttp(opts: ProviderHttpOptions): ProviderHttp {
  if (!opts.app.api_base_url) {
    throw new ProviderCallError(
      `The OAuth app '${opts.app.id}' has no api_base_url to sync through`,
      undefined,
    );
  }
  const base = new URL(opts.app.api_base_url);
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? defaultSleep;
  const maxInline = opts.maxInlineWaitMs ?? DEFAULT_MAX_INLINE_WAIT_MS;
  const authFailed = (res: ProviderResponse) =>
    opts.adapter.authFailed ? opts.adapter.authFailed(res) : res.status === 401;
  const tokens = tokenSource(opts.connection);
  const sender: PinnedRequester = (r) => {
    opts.stats.provider_calls += 1;
    return (opts.send ?? requestPinned)(r);
  };

  /** Sends one attempt; undefined `status` in the answer is a network failure. */
  const attempt = async (url: URL, req: ProviderRequest, token: string): Promise<PinnedResponse> => {
    const left = opts.deadline - now();
    if (left < MIN_CALL_MS) throw new DeadlineReached(now());
    const { headers, body } = encode(req);
    headers.authorization = `Bearer ${token}`;
    const etag = req.etagKey === undefined ? undefined : opts.etags.get(req.etagKey);
    if (etag) headers['if-none-match'] = etag;
    try {
      return await requestChecked(
        url,
        {
          method: req.method ?? 'GET',
          headers,
          body,
          timeoutMs: Math.min(PROVIDER_TIMEOUT_MS, left),
          maxBodyBytes: PROVIDER_BODY_LIMIT,
          keepHeaders: KEEP_HEADERS,
        },
        { send: sender },
      );
    } catch (err) {
      if (!(err instanceof UnsafeTargetError)) throw err;
      if (err.kind === 'refused') {
        throw new ProviderCallError(`The provider's URL is refused: ${err.message}`, undefined);
      }
      return { headers: {}, body: '', bodyTruncated: false, error: err.message, durationMs: 0 };
    }
  };

  return {
    async request(req) {
      const url = targetUrl(base, req);
      const method = req.method ?? 'GET';
      let rateLimited = 0;
      let refreshed = false;
      let networkRetried = false;
      for (;;) {
        const raw = await attempt(url, req, await tokens.current());
        if (raw.status === undefined) {
          if (!networkRetried && retriable(method, raw)) {
            networkRetried = true;
            continue;
          }
          throw new ProviderCallError(
            `${method} ${url.pathname} failed: ${raw.error ?? 'no response'}`,
            undefined,
          );
        }
        const res = parse(raw);
        logger.debug('provider call', {
          oauth_app_id: opts.app.id,
          method,
          path: url.pathname,
          status: res.status,
          duration_ms: raw.durationMs,
        });
        if (res.status === 304) {
          opts.stats.not_modified += 1;
          return res;
        }
        const decision = opts.adapter.rateLimit(res, new Date(now()), rateLimited);
        if (decision) {
          const waitMs = Math.max(0, Math.ceil(decision.waitMs));
          opts.stats.rate_limit_waits += 1;
          opts.stats.rate_limit_wait_ms += waitMs;
          const resumeAt = now() + waitMs;
          const inline =
            waitMs <= maxInline &&
            rateLimited < MAX_RATE_LIMIT_RETRIES &&
            resumeAt + MIN_CALL_MS <= opts.deadline;
          logger.info('provider rate limit', {
            oauth_app_id: opts.app.id,
            kind: decision.kind,
            wait_ms: waitMs,
            inline,
          });
          if (!inline) throw new RescheduleRun(resumeAt, decision.kind);
          await sleep(waitMs);
          rateLimited += 1;
          continue;
        }
        if (authFailed(res)) {
          if (refreshed) throw new ConnectionRejected(res.status);
          await tokens.refresh(res.status);
          refreshed = true;
          continue;
        }
        if (res.status === 200 && req.etagKey !== undefined) rememberEtag(opts.etags, req.etagKey, res);
        return res;
      }
    },
  };
}

/**
 * The URL of a request: `path` below the base URL (its path prefix kept, e.g. Slack's `/api`), or
 * an absolute URL on the base's origin; then `query`. Anything off the origin is refused (also a
 * relative path that WHATWG parsing turns into another host, such as `/\\evil.example`).
 */
function targetUrl(base: URL, req: ProviderRequest): URL {
  let url: URL;
  if (/^[a-z][a-z0-9+.-]*:/i.test(req.path)) {
    try {
      url = new URL(req.path);
    } catch {
      throw new ProviderCallError('The provider URL is not valid', undefined);
    }
  } else {
    const prefix = base.pathname.replace(/\/+$/, '');
    url = new URL(`${prefix}/${req.path.replace(/^\/+/, '')}`, base.origin);
  }
  if (url.origin !== base.origin) {
    throw new ProviderCallError(
      `Refusing to call ${url.origin}: only the app's API origin ${base.origin} may be called`,
      undefined,
    );
  }
  for (const [k, v] of Object.entries(req.query ?? {}))
    if (v !== undefined) url.searchParams.set(k, String(v));
  return url;
}

/** Headers and body of a request: JSON unless `form`; caller headers over the defaults. */
function encode(req: ProviderRequest): { headers: Record<string, string>; body?: string } {
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': USER_AGENT };
  let body: string | undefined;
  if (req.body !== undefined && req.form) {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(req.body as Record<string, unknown>)) {
      if (v !== undefined) form.set(k, typeof v === 'string' ? v : JSON.stringify(v));
    }
    body = form.toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
  } else if (req.body !== undefined) {
    body = JSON.stringify(req.body);
    headers['content-type'] = 'application/json';
  }
  for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = v;
  return { headers, body };
}

/**
 * Whether a failed attempt may be sent again: always for reads and idempotent writes; a POST only
 * when it surely never reached the provider (a refused connection), so nothing is created twice.
 */
function retriable(method: string, res: PinnedResponse): boolean {
  return method !== 'POST' || res.error === 'Connection refused';
}

/**
 * Remembers the ETag of a 200 under `key`, unless the answer is one page of several (a `Link`
 * with `rel="next"`): that ETag covers its page only, and a 304 to it would hide changes on the
 * later pages (a deletion, a new record at the end), so the key is forgotten instead.
 */
function rememberEtag(etags: Map<string, string>, key: string, res: ProviderResponse): void {
  const paged = /;\s*rel\s*=\s*"?(?:[^",;]*\s)?next[\s";,]/i.test(`${res.headers.link ?? ''},`);
  if (res.headers.etag && !paged) etags.set(key, res.headers.etag);
  else etags.delete(key);
}

function parse(raw: PinnedResponse): ProviderResponse {
  let json: unknown;
  if (raw.body.trim() && !raw.bodyTruncated) {
    try {
      json = JSON.parse(raw.body);
    } catch {
      json = undefined;
    }
  }
  return { status: raw.status as number, headers: raw.headers, json, text: raw.body };
}

/**
 * The connection's access token, read once for the client's life, and its one refresh after a
 * refusal. Failures that mean the user must act (expired, paused, refused by the provider) are
 * ConnectionRejected; our own failures (settings, tables) pass through.
 */
function tokenSource(initial: ConnectionItem) {
  let connection = initial;
  let token: Promise<string> | undefined;
  const rejected = (status: number, err: unknown) =>
    new ConnectionRejected(status, `The connection cannot give a usable token: ${(err as Error).message}`);
  return {
    current(): Promise<string> {
      token ??= accessTokenFor(connection).then(
        (t) => t.accessToken,
        (err) => {
          token = undefined;
          if (err instanceof ConnectionExpiredError || err instanceof RefreshPausedError) {
            throw rejected(401, err);
          }
          throw err;
        },
      );
      return token;
    },
    /** Refreshes the token after the provider refused it (forced: it is not due by its expiry). */
    async refresh(status: number): Promise<void> {
      if (!connection.refresh_token_sealed) {
        throw new ConnectionRejected(
          status,
          `The provider refused the token (HTTP ${status}) and it cannot be refreshed`,
        );
      }
      try {
        connection = (await refreshConnection(connection, { wait: true, force: true })).connection;
        token = Promise.resolve(await openAccessToken(connection));
      } catch (err) {
        if (err instanceof ConfigError) throw err;
        if (err instanceof ProviderError && err.transient) {
          throw new ProviderCallError(`The token refresh failed for now (${err.providerError})`, undefined);
        }
        if (err instanceof ProviderError || err instanceof ConnectionExpiredError)
          throw rejected(status, err);
        throw err;
      }
    },
  };
}
