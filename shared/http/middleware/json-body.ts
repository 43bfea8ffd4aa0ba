import { config } from '#shared/config.ts';
import { AppError, PayloadTooLargeError, ValidationError } from '#shared/errors.ts';
import type { HttpMiddleware, HttpRequest } from '../types.ts';

/**
 * Reads the request body: enforces MAX_BODY_SIZE_KB (413), requires a JSON content type (415)
 * and parses it (400 on malformed JSON). Routes without a body schema ignore it.
 */
export function jsonBody(): HttpMiddleware {
  return {
    name: 'json-body',
    before: (request: HttpRequest) => {
      const { event } = request;
      if (event.body === undefined || event.body === null || event.body === '') return;
      const raw = event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
      const limit = config().MAX_BODY_SIZE_KB * 1024;
      if (raw.byteLength > limit) {
        throw new PayloadTooLargeError(`The body is ${raw.byteLength} bytes; the limit is ${limit} bytes.`);
      }
      if (!request.state.route.body) return;
      const type = (event.headers?.['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
      if (type && type !== 'application/json' && !type.endsWith('+json')) {
        throw new AppError(
          415,
          'unsupported-media-type',
          'Unsupported media type',
          'Send the body as application/json.',
        );
      }
      try {
        request.state.json = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new ValidationError('The body is not valid JSON.', [
          { path: 'body', message: 'Malformed JSON' },
        ]);
      }
    },
  };
}
