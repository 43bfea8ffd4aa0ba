/**
 * The one CORS policy of the API. In AWS the HTTP API answers preflights and sets CORS headers
 * from it (infra/root-stack.ts); the local runtime and the handlers use the same lists, so
 * what works locally works deployed.
 */
export const CORS = {
  allowMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
  allowHeaders: ['authorization', 'content-type', 'x-workspace-id', 'idempotency-key', 'x-correlation-id'],
  exposeHeaders: [
    'ratelimit',
    'ratelimit-policy',
    'x-ratelimit-limit',
    'x-ratelimit-remaining',
    'x-ratelimit-reset',
    'x-ratelimit-used',
    'x-ratelimit-resource',
    'retry-after',
    'www-authenticate',
    'x-request-id',
    'x-correlation-id',
  ],
  maxAgeSeconds: 3600,
} as const;

/** The value of `Access-Control-Allow-Origin` for `origin`, or undefined when it is not allowed. */
export function allowedOrigin(origin: string | undefined, allowed: readonly string[]): string | undefined {
  if (!origin) return undefined;
  if (allowed.includes('*')) return '*';
  return allowed.includes(origin) ? origin : undefined;
}
