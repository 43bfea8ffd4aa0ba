import { Logger } from '@aws-lambda-powertools/logger';

/**
 * The one structured JSON logger of the service. Keys that may carry secrets are redacted
 * before anything is written, whatever the caller passes.
 */
export const logger = new Logger({
  serviceName: 'pronaflow-integrations',
  logLevel: (process.env.LOG_LEVEL as 'INFO' | undefined) ?? (process.env.VITEST ? 'SILENT' : 'INFO'),
});

const SECRET_KEY = /(authorization|token|secret|password|cookie|code_verifier|client_secret|signature)/i;

/** Returns a copy of `value` with secret-looking keys replaced by `[redacted]`. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([k, v]) => [
      k,
      SECRET_KEY.test(k) ? '[redacted]' : redact(v, depth + 1),
    ]),
  );
}
