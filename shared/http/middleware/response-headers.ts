import { config } from '#shared/config.ts';
import { CORRELATION_HEADER, currentCorrelation } from '#shared/correlation.ts';
import { allowedOrigin, CORS } from '../cors.ts';
import type { HttpMiddleware, HttpRequest } from '../types.ts';

const SECURITY_HEADERS: Record<string, string> = {
  'Cache-Control': 'no-store',
  'Strict-Transport-Security': 'max-age=63072000; includeSubDomains; preload',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
};

/** CORS headers for a request's Origin, from CORS_ALLOWED_ORIGINS and the API's CORS policy. */
export function corsHeaders(origin: string | undefined): Record<string, string> {
  if (!origin) return {};
  let allowed: readonly string[];
  try {
    allowed = config().CORS_ALLOWED_ORIGINS;
  } catch {
    return {}; // this middleware also runs on errors: it must never throw itself
  }
  const allow = allowedOrigin(origin, allowed);
  if (!allow) return {};
  return {
    'Access-Control-Allow-Origin': allow,
    'Access-Control-Expose-Headers': CORS.exposeHeaders.join(', '),
    ...(allow === '*' ? {} : { Vary: 'Origin' }),
  };
}

/** Adds security, CORS, request-id, correlation-id and per-request headers to every response, success or error. */
export function responseHeaders(): HttpMiddleware {
  const apply = (request: HttpRequest) => {
    const res = request.response;
    if (!res) return;
    const correlationId = currentCorrelation()?.correlation_id;
    res.headers = {
      ...SECURITY_HEADERS,
      ...corsHeaders(request.event.headers?.origin),
      ...(request.state?.headers ?? {}),
      ...(request.state ? { 'X-Request-Id': request.state.requestId } : {}),
      ...(correlationId ? { [CORRELATION_HEADER]: correlationId } : {}),
      ...(res.headers ?? {}),
    };
  };
  return { name: 'response-headers', after: apply, onError: apply };
}
