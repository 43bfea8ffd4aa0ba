import { AppError } from '#shared/errors.ts';
import { logger } from '#shared/logger.ts';
import { problem } from '../problem.ts';
import type { HttpMiddleware, HttpRequest } from '../types.ts';

/**
 * Turns any thrown error into an RFC 9457 problem+json response. Known errors (`AppError`) keep
 * their status and detail; anything else becomes a 500 that says nothing of its cause.
 */
export function errorHandler(): HttpMiddleware {
  return {
    name: 'error-handler',
    onError: (request: HttpRequest) => {
      const err = request.error;
      const known = err instanceof AppError ? err : undefined;
      if (!known || known.status >= 500) {
        logger.error('request failed', { error: err as Error });
      }
      const status = known?.status ?? 500;
      const body = problem({
        status,
        code: known?.code ?? 'internal-error',
        title: known?.title ?? 'Internal server error',
        detail: known?.expose
          ? known.message
          : 'Something went wrong on our side. Quote the request_id if you contact support.',
        instance: request.event.rawPath,
        requestId: request.state?.requestId,
        errors: known?.errors,
        extra: known?.expose ? known.extra : undefined,
      });
      request.response = {
        statusCode: status,
        headers: { 'Content-Type': 'application/problem+json', ...(known?.headers ?? {}) },
        body: JSON.stringify(body),
      };
    },
  };
}
