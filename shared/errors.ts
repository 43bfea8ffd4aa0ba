/** A field-level validation problem, as listed in a problem+json `errors` array. */
export interface FieldError {
  path: string;
  message: string;
}

interface AppErrorOptions {
  cause?: unknown;
  /** Extra members added to the problem+json body (e.g. `required_scopes`). */
  extra?: Record<string, unknown>;
  /** Extra response headers (e.g. `Retry-After`, `WWW-Authenticate`). */
  headers?: Record<string, string>;
  errors?: FieldError[];
}

/**
 * Base of every error the API answers with. `expose` tells whether `detail` may reach the client;
 * 5xx errors never expose theirs.
 */
export class AppError extends Error {
  override name = 'AppError';
  readonly extra: Record<string, unknown>;
  readonly headers: Record<string, string>;
  readonly errors: FieldError[] | undefined;

  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    detail: string,
    opts: AppErrorOptions = {},
  ) {
    super(detail, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.extra = opts.extra ?? {};
    this.headers = opts.headers ?? {};
    this.errors = opts.errors;
  }

  get expose(): boolean {
    return this.status < 500 || this.status === 501 || this.status === 502 || this.status === 503;
  }
}

export class ValidationError extends AppError {
  override name = 'ValidationError';
  constructor(detail: string, errors?: FieldError[], opts: AppErrorOptions = {}) {
    super(400, 'validation-error', 'Your request is not valid', detail, { ...opts, errors });
  }
}

export class UnauthorizedError extends AppError {
  override name = 'UnauthorizedError';
  constructor(detail: string, opts: AppErrorOptions & { error?: 'invalid_token' | 'invalid_request' } = {}) {
    const challenge = opts.error
      ? `Bearer realm="pronaflow-integrations", error="${opts.error}", error_description="${detail.replace(/"/g, "'")}"`
      : 'Bearer realm="pronaflow-integrations"';
    super(401, 'unauthorized', 'Authentication required', detail, {
      ...opts,
      headers: { 'WWW-Authenticate': challenge, ...opts.headers },
    });
  }
}

export class ForbiddenError extends AppError {
  override name = 'ForbiddenError';
  constructor(detail: string, opts: AppErrorOptions = {}) {
    super(403, 'forbidden', 'Not allowed', detail, opts);
  }
}

export class NotFoundError extends AppError {
  override name = 'NotFoundError';
  constructor(detail: string, opts: AppErrorOptions = {}) {
    super(404, 'not-found', 'Not found', detail, opts);
  }
}

export class ConflictError extends AppError {
  override name = 'ConflictError';
  constructor(detail: string, opts: AppErrorOptions = {}) {
    super(409, 'conflict', 'Conflict', detail, opts);
  }
}

export class PayloadTooLargeError extends AppError {
  override name = 'PayloadTooLargeError';
  constructor(detail: string) {
    super(413, 'payload-too-large', 'Request body too large', detail);
  }
}

export class RateLimitedError extends AppError {
  override name = 'RateLimitedError';
  constructor(detail: string, retryAfterSeconds: number, headers: Record<string, string> = {}) {
    super(429, 'rate-limited', 'Too many requests', detail, {
      headers: { 'Retry-After': String(retryAfterSeconds), ...headers },
    });
  }
}

export class NotImplementedError extends AppError {
  override name = 'NotImplementedError';
  constructor(capability: string) {
    super(501, 'not-implemented', 'Not implemented yet', `${capability} is not implemented yet.`, {
      extra: { capability },
    });
  }
}

export class UpstreamError extends AppError {
  override name = 'UpstreamError';
  constructor(detail: string, opts: AppErrorOptions = {}) {
    super(502, 'upstream-error', 'Upstream service error', detail, opts);
  }
}

export class ServiceUnavailableError extends AppError {
  override name = 'ServiceUnavailableError';
  constructor(detail: string, opts: AppErrorOptions = {}) {
    super(503, 'service-unavailable', 'Service unavailable', detail, opts);
  }
}
