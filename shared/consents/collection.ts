import { ValidationError } from '#shared/errors.ts';
import type { HttpEvent } from '#shared/http/types.ts';
import type { Collection } from './service.ts';

/** The header a client sets to say how consent was collected: `ui` (a form the user saw) or `api` (default). */
export const COLLECTION_HEADER = 'x-consent-collection-method';

/** How the request collected consent: the header, the caller's IP address and user agent. */
export function collectionOf(event: HttpEvent): Collection {
  const method = (event.headers?.[COLLECTION_HEADER] ?? 'api').toLowerCase();
  if (method !== 'api' && method !== 'ui') {
    throw new ValidationError('Unknown consent collection method.', [
      { path: `headers.${COLLECTION_HEADER}`, message: 'Must be "ui" or "api"' },
    ]);
  }
  return {
    method,
    ip: event.requestContext?.http?.sourceIp ?? null,
    userAgent: event.headers?.['user-agent']?.slice(0, 500) ?? null,
  };
}
