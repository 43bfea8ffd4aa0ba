import * as v from 'valibot';
import { config } from '#shared/config.ts';
import { UpstreamError } from '#shared/errors.ts';
import { logger } from '#shared/logger.ts';
import { type PinnedResponse, requestChecked } from '#shared/net/pinned-http.ts';
import { UnsafeTargetError } from '#shared/net/url-guard.ts';
import { check, coerceNumber } from '#shared/validation.ts';
import type { OAuthApp } from './catalog.ts';
import type { ClientCredentials } from './credentials.ts';
import { checkProviderUrl } from './urls.ts';

/** Largest provider response we read. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * A failed call to a provider: 502 problem+json carrying the provider's `error` code (never a
 * token). `transient` tells whether trying again later may help (timeouts, 5xx, 429, garbage).
 */
export class ProviderError extends UpstreamError {
  override name = 'ProviderError';
  constructor(
    readonly appId: string,
    readonly providerError: string,
    readonly transient: boolean,
    detail: string,
    readonly providerDescription?: string,
    cause?: unknown,
  ) {
    super(detail, {
      cause,
      extra: {
        oauth_app_id: appId,
        provider_error: providerError,
        ...(providerDescription ? { provider_error_description: providerDescription } : {}),
      },
    });
  }
}

/** A token endpoint's answer (RFC 6749 §5.1), validated; unknown members are ignored. */
export const tokenResponseSchema = v.object({
  access_token: v.pipe(v.string(), v.minLength(1), v.maxLength(8192)),
  token_type: v.optional(v.pipe(v.string(), v.maxLength(40))),
  expires_in: v.optional(v.pipe(coerceNumber(), v.safeInteger(), v.gtValue(0), v.maxValue(10 * 366 * 86400))),
  refresh_token: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(8192))),
  scope: v.optional(v.union([v.pipe(v.string(), v.maxLength(4000)), v.array(v.string())])),
});
export type TokenResponse = v.InferOutput<typeof tokenResponseSchema>;

const errorResponseSchema = v.object({
  error: v.pipe(v.string(), v.minLength(1)),
  error_description: v.optional(v.string()),
});

/** Scopes as a provider lists them: space- or comma-separated, or an array. */
export function parseScopes(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const list = Array.isArray(value) ? value : value.split(/[\s,]+/);
  return [...new Set(list.map((s) => s.trim()).filter(Boolean))];
}

/** Keeps only printable ASCII of a provider message, capped, so it is safe to show and log. */
function clean(text: string | undefined, max = 200): string | undefined {
  if (!text) return undefined;
  const printable = text.replace(/[^\x20-\x7e]/g, '').slice(0, max);
  return printable || undefined;
}

function parseBody(text: string, contentType: string): unknown {
  if (/json/i.test(contentType) || /^\s*[{[]/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      return undefined;
    }
  }
  if (/x-www-form-urlencoded/i.test(contentType)) return Object.fromEntries(new URLSearchParams(text));
  return undefined;
}

/**
 * POSTs a form to a provider endpoint with the app's client authentication and returns the status
 * and parsed body. The call goes through the outbound guard (shared/net): the host is resolved,
 * every address must be public (loopback only with ALLOW_LOOPBACK_TARGETS=true) and the connection
 * goes to the checked address, so a name re-pointed at an internal address is refused without
 * connecting, and DNS cannot rebind between check and connect. No redirect is followed; one
 * deadline (OAUTH_HTTP_TIMEOUT_SECONDS) covers DNS and the exchange; at most 64 KiB is read.
 */
async function postForm(
  app: OAuthApp,
  url: string,
  creds: ClientCredentials,
  params: Record<string, string>,
): Promise<{ status: number; body: unknown; secrets: string[] }> {
  const problem = checkProviderUrl(url);
  if (problem) {
    throw new ProviderError(
      app.id,
      'invalid_endpoint',
      false,
      `The provider endpoint of '${app.id}' ${problem}.`,
    );
  }
  const form = new URLSearchParams(params);
  const secrets = [creds.client_secret, ...SECRET_PARAMS.flatMap((k) => (params[k] ? [params[k]] : []))];
  const headers: Record<string, string> = {
    'Content-Type': 'application/x-www-form-urlencoded',
    Accept: 'application/json',
    'User-Agent': 'PronaFlow-Integrations',
  };
  if (app.token_auth_method === 'client_secret_basic') {
    // RFC 6749 §2.3.1: each part form-urlencoded before the base64 of `id:secret`.
    const id = encodeURIComponent(creds.client_id);
    const secret = encodeURIComponent(creds.client_secret);
    headers.Authorization = `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
  } else {
    form.set('client_id', creds.client_id);
    form.set('client_secret', creds.client_secret);
  }
  const timeoutMs = config().OAUTH_HTTP_TIMEOUT_SECONDS * 1000;
  let res: PinnedResponse;
  try {
    res = await requestChecked(url, {
      method: 'POST',
      headers,
      body: form.toString(),
      timeoutMs,
      maxBodyBytes: MAX_RESPONSE_BYTES,
    });
  } catch (err) {
    if (!(err instanceof UnsafeTargetError)) throw err;
    // The reason names the address: for the operator's log, not for the API caller.
    logger.warn('oauth provider target refused', {
      oauth_app_id: app.id,
      endpoint: url === app.token_url ? 'token_url' : 'revoke_url',
      kind: err.kind,
      reason: err.message,
    });
    if (err.kind === 'refused') {
      throw new ProviderError(
        app.id,
        'invalid_endpoint',
        false,
        `The provider endpoint of '${app.id}' is not allowed: its host resolves to a loopback, private ` +
          'or otherwise internal address. An operator must correct the app (OAUTH_APPS_FILE) or its DNS.',
      );
    }
    throw new ProviderError(
      app.id,
      'unreachable',
      true,
      `The provider '${app.id}' could not be reached (its host name did not resolve).`,
    );
  }
  if (res.status === undefined) {
    throw new ProviderError(
      app.id,
      res.timedOut ? 'timeout' : 'unreachable',
      true,
      res.timedOut
        ? `The provider '${app.id}' did not answer within ${timeoutMs / 1000} s.`
        : `The provider '${app.id}' could not be reached.`,
      undefined,
      // What failed, without the URL or the address (safe to log).
      new Error(res.error ?? 'Request failed'),
    );
  }
  if (res.bodyTruncated) {
    throw new ProviderError(
      app.id,
      'response_too_large',
      true,
      `The provider '${app.id}' answered with more than ${MAX_RESPONSE_BYTES / 1024} KiB; the answer was not read.`,
    );
  }
  return { status: res.status, body: parseBody(res.body, res.headers['content-type'] ?? ''), secrets };
}

/** Request parameters that are secrets (never echoed back into an error we store, show or log). */
const SECRET_PARAMS = ['code', 'code_verifier', 'refresh_token', 'token', 'client_secret'];

/** `text` with every secret it quotes replaced (a provider may echo what it was sent). */
function redact(text: string | undefined, secrets: string[]): string | undefined {
  if (!text) return text;
  let out = text;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  return out;
}

/**
 * Turns an error answer (any status, or 200 with `error`, as GitHub and Slack do) into a
 * ProviderError; `secrets` (what we sent) are redacted from the provider's words.
 */
function providerFailure(
  app: OAuthApp,
  status: number,
  body: unknown,
  what: string,
  secrets: string[],
): ProviderError {
  const parsed = check(errorResponseSchema, body);
  const code = parsed.success
    ? (redact(clean(parsed.data.error, 64), secrets) ?? 'invalid_response')
    : undefined;
  const description = parsed.success ? redact(clean(parsed.data.error_description), secrets) : undefined;
  const transient = status >= 500 || status === 429 || !code;
  return new ProviderError(
    app.id,
    code ?? (status >= 400 ? `http_${status}` : 'invalid_response'),
    transient,
    code
      ? `The provider '${app.id}' refused the ${what}: ${code}${description ? ` (${description})` : ''}.`
      : `The provider '${app.id}' answered the ${what} with HTTP ${status} and no OAuth error.`,
    description,
  );
}

async function tokenRequest(
  app: OAuthApp,
  creds: ClientCredentials,
  params: Record<string, string>,
  what: string,
): Promise<TokenResponse> {
  const { status, body, secrets } = await postForm(app, app.token_url, creds, params);
  const slackFailure = typeof body === 'object' && body !== null && (body as { ok?: unknown }).ok === false;
  if (status !== 200 || slackFailure || (typeof body === 'object' && body !== null && 'error' in body)) {
    throw providerFailure(app, status, body, what, secrets);
  }
  const parsed = check(tokenResponseSchema, body);
  if (!parsed.success) {
    throw new ProviderError(
      app.id,
      'invalid_response',
      true,
      `The provider '${app.id}' answered the ${what} with a malformed token response.`,
    );
  }
  return parsed.data;
}

/** Exchanges an authorization code (RFC 6749 §4.1.3, with the PKCE `code_verifier` of RFC 7636 §4.5). */
export function exchangeCode(
  app: OAuthApp,
  creds: ClientCredentials,
  input: { code: string; redirectUri: string; codeVerifier?: string },
): Promise<TokenResponse> {
  return tokenRequest(
    app,
    creds,
    {
      grant_type: 'authorization_code',
      code: input.code,
      redirect_uri: input.redirectUri,
      ...(input.codeVerifier ? { code_verifier: input.codeVerifier } : {}),
    },
    'authorization code',
  );
}

/** Uses a refresh token (RFC 6749 §6). */
export function refreshGrant(
  app: OAuthApp,
  creds: ClientCredentials,
  refreshToken: string,
): Promise<TokenResponse> {
  return tokenRequest(
    app,
    creds,
    { grant_type: 'refresh_token', refresh_token: refreshToken },
    'refresh token',
  );
}

/** Revokes a token (RFC 7009 §2.1); throws a ProviderError when the provider refuses. */
export async function revokeToken(
  app: OAuthApp,
  creds: ClientCredentials,
  token: string,
  hint: 'access_token' | 'refresh_token',
): Promise<void> {
  if (!app.revoke_url) return;
  const { status, body, secrets } = await postForm(app, app.revoke_url, creds, {
    token,
    token_type_hint: hint,
  });
  const slackFailure = typeof body === 'object' && body !== null && (body as { ok?: unknown }).ok === false;
  if (status !== 200 || slackFailure) throw providerFailure(app, status, body, 'revocation', secrets);
}
