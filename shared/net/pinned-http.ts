/**
 * The one outbound HTTP client of the service (webhook deliveries, OAuth provider calls, the sync
 * adapters to come), on Node's own `http`/`https`: no undici in any bundle. Every socket goes to an
 * address the URL guard checked (the agent's `lookup` is pinned to it), redirects are never
 * followed (`node:http` follows none), one deadline bounds the whole exchange and the response
 * body is read up to a limit. Each request is one X-Ray subsegment of its host, with its method
 * and status only (shared/tracing.ts: no path, query or header reaches a trace).
 */
import {
  type ClientRequest,
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { inHttpSubsegment } from '#shared/tracing.ts';
import {
  configuredPolicy,
  type ResolvedAddress,
  resolveTarget,
  type TargetPolicy,
  type UnsafeTargetError,
} from './url-guard.ts';

/** Response bytes kept when the caller names no limit. */
export const DEFAULT_BODY_LIMIT = 4096;
const HEADER_VALUE_LIMIT = 512;
const MAX_HEADERS = 30;
/** Value length of a header the caller asked to keep (a GitHub `Link` of four URLs exceeds 512). */
const KEPT_HEADER_VALUE_LIMIT = 8192;

export interface PinnedRequest {
  /** The checked URL (its host name goes in `Host` and TLS SNI, and the certificate must match it). */
  url: URL;
  /** The checked address to connect to, whatever DNS answers now. */
  address: ResolvedAddress;
  /** Default: POST with a body, GET without. */
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  headers: Record<string, string>;
  body?: string;
  /** Bounds connection, request and the whole response. */
  timeoutMs: number;
  /** Bytes of response body kept (default {@link DEFAULT_BODY_LIMIT}); more sets `bodyTruncated`. */
  maxBodyBytes?: number;
  /**
   * Lower-case names of response headers the caller needs (`link`, `etag`, `retry-after`): kept
   * whatever the 30-header cap, with values up to 8192 characters, and counted outside the cap.
   * A name ending in `*` keeps every header with that prefix (`x-ratelimit-*`).
   */
  keepHeaders?: readonly string[];
}

export interface PinnedResponse {
  /** HTTP status, or undefined when no full response arrived (refused, timeout, TLS error, reset). */
  status?: number;
  /**
   * Lower-case names, at most 30 (plus those of `keepHeaders`), each value at most 512 characters
   * (8192 for those of `keepHeaders`).
   */
  headers: Record<string, string>;
  body: string;
  /** The body was longer than the limit: `body` holds its start, the rest was not read. */
  bodyTruncated: boolean;
  /** Why no response arrived, safe to store and show (no URL, no address). */
  error?: string;
  /** The deadline passed (set with `error`). */
  timedOut?: boolean;
  durationMs: number;
}

/** Sends one request to a checked address; features take it as a dependency so tests can replace it. */
export type PinnedRequester = (req: PinnedRequest) => Promise<PinnedResponse>;

/** Agents kept for connection reuse (least recently used first out). */
const MAX_POOLED_AGENTS = 64;
/**
 * How long an idle connection is kept; a server's shorter `Keep-Alive: timeout=` hint wins (Node
 * takes one second off it), so we close before a server that idles out at 5 s (Node's default).
 */
const KEEP_ALIVE_MS = 4_000;

type Agent = HttpAgent | HttpsAgent;
const agents = new Map<string, Agent>();

/**
 * The agent for one origin at one checked address: every socket it opens goes to `address` (its
 * `lookup` is pinned; agent options override request options in Node), so a reused keep-alive
 * connection is one to the address checked for this request. A DNS answer that changes makes a
 * new key, hence new connections.
 */
function agentFor(url: URL, address: ResolvedAddress): Agent {
  const key = `${url.origin}|${address.address}`;
  const pooled = agents.get(key);
  if (pooled) {
    agents.delete(key);
    agents.set(key, pooled);
    return pooled;
  }
  const lookup: LookupFunction = (_host, opts, cb) => {
    if (opts?.all) (cb as (e: null, a: ResolvedAddress[]) => void)(null, [address]);
    else cb(null, address.address, address.family);
  };
  const options = { keepAlive: true, timeout: KEEP_ALIVE_MS, scheduling: 'lifo' as const, lookup };
  const agent = url.protocol === 'https:' ? new HttpsAgent(options) : new HttpAgent(options);
  agents.set(key, agent);
  if (agents.size > MAX_POOLED_AGENTS) {
    const [oldest, old] = agents.entries().next().value as [string, Agent];
    agents.delete(oldest);
    // Idle connections go now; those in flight finish, then idle out after KEEP_ALIVE_MS.
    for (const sockets of Object.values(old.freeSockets)) for (const s of sockets ?? []) s.destroy();
  }
  return agent;
}

/** Closes every pooled connection (tests, shutdown). */
export async function closePooledAgents(): Promise<void> {
  const all = [...agents.values()];
  agents.clear();
  for (const agent of all) agent.destroy();
}

class DeadlineError extends Error {
  override name = 'TimeoutError';
}

/**
 * Sends one request to `address` (already checked) whatever DNS says now: the socket's lookup is
 * pinned, while TLS still verifies the certificate against the URL's host name (SNI). Connections
 * are kept alive and reused per origin and checked address. A 3xx is returned as it is (nothing
 * is sent to its `Location`); the whole exchange is bounded by `timeoutMs`; at most `maxBodyBytes`
 * of the body are read. Never throws: a failure is `{ error }` without `status`.
 */
export const requestPinned: PinnedRequester = (req) =>
  inHttpSubsegment(req.url, req.method ?? (req.body === undefined ? 'GET' : 'POST'), () => sendPinned(req));

function sendPinned(req: PinnedRequest): Promise<PinnedResponse> {
  const started = performance.now();
  const limit = req.maxBodyBytes ?? DEFAULT_BODY_LIMIT;
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise<PinnedResponse>((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (out: Omit<PinnedResponse, 'durationMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...out, durationMs: elapsed() });
    };
    const fail = (err: unknown) =>
      finish({
        headers: {},
        body: '',
        bodyTruncated: false,
        error: describe(err, req.timeoutMs),
        ...(err instanceof DeadlineError ? { timedOut: true } : {}),
      });

    let outgoing: ClientRequest;
    try {
      const headers: Record<string, string | number> = { ...req.headers };
      if (req.body !== undefined) headers['content-length'] = Buffer.byteLength(req.body);
      const send = req.url.protocol === 'https:' ? httpsRequest : httpRequest;
      outgoing = send(req.url, {
        method: req.method ?? (req.body === undefined ? 'GET' : 'POST'),
        headers,
        agent: agentFor(req.url, req.address),
      });
    } catch (err) {
      // e.g. a header value Node refuses
      return fail(err);
    }
    timer = setTimeout(() => {
      const err = new DeadlineError();
      fail(err);
      outgoing.destroy(err);
    }, req.timeoutMs);
    outgoing.on('error', fail);
    outgoing.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (settled) return;
        chunks.push(chunk);
        size += chunk.length;
        if (size > limit) {
          finish(answer(res, chunks, limit, true, req.keepHeaders));
          // Read no further: this connection is not reused.
          res.destroy();
        }
      });
      res.on('end', () => finish(answer(res, chunks, limit, false, req.keepHeaders)));
      res.on('error', fail);
      // The connection closed before the body ended (Node may close without an 'error').
      res.on('close', () => fail(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })));
    });
    outgoing.end(req.body);
  });
}

function answer(
  res: IncomingMessage,
  chunks: Buffer[],
  limit: number,
  truncated: boolean,
  keep: readonly string[] = [],
): Omit<PinnedResponse, 'durationMs'> {
  return {
    status: res.statusCode,
    headers: boundHeaders(res.headers, keep),
    body: Buffer.concat(chunks).subarray(0, limit).toString('utf8'),
    bodyTruncated: truncated,
  };
}

/**
 * Checks `raw` with the URL guard (shape, host, every address it resolves to) and sends one
 * request to the checked address: the outbound call of any feature that calls a URL it was given.
 * `timeoutMs` bounds DNS resolution and the whole exchange together. Throws
 * {@link UnsafeTargetError} when the target is refused (`refused`, final) or does not resolve in
 * time (`unresolved`); any other failure is the response's `error`.
 */
export async function requestChecked(
  raw: string | URL,
  init: Omit<PinnedRequest, 'url' | 'address'>,
  opts: { policy?: TargetPolicy; send?: PinnedRequester } = {},
): Promise<PinnedResponse> {
  const deadline = performance.now() + init.timeoutMs;
  const target = await resolveTarget(raw, opts.policy ?? configuredPolicy(), { timeoutMs: init.timeoutMs });
  const timeoutMs = Math.max(1, Math.round(deadline - performance.now()));
  return (opts.send ?? requestPinned)({ ...init, url: target.url, address: target.address, timeoutMs });
}

/**
 * The response headers, bounded: the first 30 with values of at most 512 characters, plus every
 * header named in `keep` (a name or a `prefix*`) whatever its position, with a longer value.
 */
function boundHeaders(raw: IncomingMessage['headers'], keep: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const kept = (name: string) =>
    keep.some((k) => (k.endsWith('*') ? name.startsWith(k.slice(0, -1)) : name === k));
  let others = 0;
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    const name = k.toLowerCase();
    const value = Array.isArray(v) ? v.join(', ') : v;
    if (kept(name)) out[name] = value.slice(0, KEPT_HEADER_VALUE_LIMIT);
    else if (others++ < MAX_HEADERS) out[name] = value.slice(0, HEADER_VALUE_LIMIT);
  }
  return out;
}

function describe(err: unknown, timeoutMs: number): string {
  if (err instanceof DeadlineError) return `Timed out after ${timeoutMs} ms`;
  const code = (err as { code?: string })?.code;
  if (code === 'ECONNREFUSED') return 'Connection refused';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'Connection reset';
  return code ? `Request failed (${code})` : 'Request failed';
}
