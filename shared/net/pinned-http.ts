import type { LookupFunction } from 'node:net';
import { Agent, request } from 'undici';
import type { ResolvedAddress } from './url-guard.ts';

/** Bounds of what an attempt record keeps of the response. */
export const RESPONSE_BODY_LIMIT = 4096;
const HEADER_VALUE_LIMIT = 512;
const MAX_HEADERS = 30;

export interface PostResult {
  /** HTTP status, or undefined when no response arrived (refused, timeout, TLS error). */
  status?: number;
  headers: Record<string, string>;
  body: string;
  bodyTruncated: boolean;
  error?: string;
  durationMs: number;
}

/** Sends one request; the delivery worker takes it as a dependency so tests can replace it. */
export type Poster = (input: {
  url: URL;
  address: ResolvedAddress;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
}) => Promise<PostResult>;

/** Agents kept for connection reuse (least recently used first out). */
const MAX_POOLED_AGENTS = 64;
/** How long an idle connection is kept when the server gives no keep-alive hint. */
const KEEP_ALIVE_MS = 4_000;
/** Upper bound on a server's keep-alive hint (undici subtracts a 2 s safety margin from it). */
const KEEP_ALIVE_MAX_MS = 10_000;

/** Backstop timeouts of pooled agents; above the largest WEBHOOK_TIMEOUT_SECONDS (30 s). */
const AGENT_TIMEOUT_MS = 60_000;

const agents = new Map<string, Agent>();

/**
 * The agent for one origin at one validated address: every socket it opens goes to `address`
 * (its lookup is pinned), so a reused keep-alive connection is one to the address validated for
 * this attempt. A DNS answer that changes makes a new key, hence new connections.
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
  const agent = new Agent({
    // Each request is bounded by its own deadline (the abort signal); these only backstop it.
    connect: { lookup, timeout: AGENT_TIMEOUT_MS },
    headersTimeout: AGENT_TIMEOUT_MS,
    bodyTimeout: AGENT_TIMEOUT_MS,
    keepAliveTimeout: KEEP_ALIVE_MS,
    keepAliveMaxTimeout: KEEP_ALIVE_MAX_MS,
  });
  agents.set(key, agent);
  if (agents.size > MAX_POOLED_AGENTS) {
    const [oldest, old] = agents.entries().next().value as [string, Agent];
    agents.delete(oldest);
    old.close().catch(() => {}); // lets its requests in flight finish
  }
  return agent;
}

/** Closes every pooled connection (tests, shutdown). */
export async function closePooledAgents(): Promise<void> {
  const all = [...agents.values()];
  agents.clear();
  await Promise.allSettled(all.map((a) => a.close()));
}

/**
 * POSTs `body` to `url`, connecting to `address` (already validated) whatever DNS says now:
 * the socket's lookup is pinned, while TLS still verifies the certificate against the URL's
 * host name (SNI). Connections are kept alive and reused per origin and validated address.
 * Redirects are not followed: undici 8's `request()` follows none unless the dispatcher is
 * composed with the redirect interceptor, which this one is not (a 3xx is just a non-2xx answer,
 * tested end to end); the whole exchange is bounded
 * by `timeoutMs`; at most {@link RESPONSE_BODY_LIMIT} bytes are read.
 */
export const postPinned: Poster = async ({ url, address, headers, body, timeoutMs }) => {
  const started = performance.now();
  try {
    const res = await request(url, {
      method: 'POST',
      headers,
      body,
      dispatcher: agentFor(url, address),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const read = await readBounded(res.body);
    return {
      status: res.statusCode,
      headers: boundHeaders(res.headers),
      body: read.text,
      bodyTruncated: read.truncated,
      durationMs: Math.round(performance.now() - started),
    };
  } catch (err) {
    return {
      headers: {},
      body: '',
      bodyTruncated: false,
      error: describe(err, timeoutMs),
      durationMs: Math.round(performance.now() - started),
    };
  }
};

async function readBounded(stream: AsyncIterable<Buffer> & { destroy: () => void }) {
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  for await (const chunk of stream) {
    chunks.push(chunk);
    size += chunk.length;
    if (size > RESPONSE_BODY_LIMIT) {
      truncated = true;
      stream.destroy();
      break;
    }
  }
  const all = Buffer.concat(chunks).subarray(0, RESPONSE_BODY_LIMIT);
  return { text: all.toString('utf8'), truncated };
}

function boundHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw).slice(0, MAX_HEADERS)) {
    if (v === undefined) continue;
    const value = Array.isArray(v) ? v.join(', ') : v;
    out[k.toLowerCase()] = value.slice(0, HEADER_VALUE_LIMIT);
  }
  return out;
}

function describe(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code;
  if (
    e.name === 'TimeoutError' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT'
  ) {
    return `Timed out after ${timeoutMs} ms`;
  }
  if (code === 'ECONNREFUSED') return 'Connection refused';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'Connection reset';
  return code ? `Request failed (${code})` : 'Request failed';
}
