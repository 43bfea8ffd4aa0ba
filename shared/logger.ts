import { LogFormatter, Logger, LogItem } from '@aws-lambda-powertools/logger';
import type { LogAttributes, UnformattedAttributes } from '@aws-lambda-powertools/logger/types';
import { currentCorrelation } from '#shared/correlation.ts';

/** Keys whose values may be secrets, at any depth. */
const SECRET_KEY =
  /(authorization|token|secret|password|passwd|cookie|code_verifier|signature|api_?key|private_?key|credential|hash)/i;
/** Identifiers are not secrets (`token_id`, `client_id`, `event_id`…): they stay readable. */
const ID_KEY = /(^|_)ids?$|[a-z]Ids?$/;
/** Secrets recognisable by their value wherever they appear (messages, error texts, stacks). */
const SECRET_VALUES: [RegExp, string | ((match: string) => string)][] = [
  // PronaFlow API tokens (any length, so truncated or mistyped ones too).
  [/pfi_[0-9A-Za-z]{8,}/g, 'pfi_[redacted]'],
  // SHA-256 hex digests (token hashes, e.g. in `TOKENHASH#<hash>` keys quoted by an error).
  [/\b[0-9a-f]{64}\b/gi, '[redacted-sha256]'],
  // Bearer credentials quoted in a message.
  [/(Bearer\s+)[^\s"',;]+/gi, '$1[redacted]'],
  // Standard Webhooks signing secrets.
  [/whsec_[A-Za-z0-9+/=]{8,}/g, 'whsec_[redacted]'],
  // JWTs (JWS and JWE compact forms, unsigned ones too) wherever they stand, e.g. pasted into a path,
  // percent-encoded (`%2E` between the parts) or glued to other text: the header is base64url JSON,
  // so it starts `eyJ` (`{"`) or `eyA`/`ewo`/`ew0`/`ewk` (`{` and white space), and it decodes to a
  // JSON object (checked, so ordinary text such as a host name is left alone).
  [/(?:eyJ|eyA|ewo|ew0|ewk)[A-Za-z0-9_-]{4,}(?:(?:\.|%2[eE])[A-Za-z0-9_-]*){2,4}/g, redactJwt],
];

function redactJwt(candidate: string): string {
  const header = candidate.split(/\.|%2[eE]/)[0] as string;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
    return parsed && typeof parsed === 'object' ? '[redacted-jwt]' : candidate;
  } catch {
    return candidate;
  }
}
const MAX_DEPTH = 8;

/** True when a key names a secret (and is not an identifier such as `token_id`). */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key) && !ID_KEY.test(key);
}

/** `text` with every recognisable secret value replaced. */
export function scrub(text: string): string {
  // (Two calls, so each picks its overload of `replace`: a replacement string or a function.)
  return SECRET_VALUES.reduce(
    (out, [re, by]) => (typeof by === 'string' ? out.replace(re, by) : out.replace(re, by)),
    text,
  );
}

/**
 * Returns a copy of `value` with secret-looking keys replaced by `[redacted]` and secret-looking
 * values scrubbed from strings, at any depth. Errors are first turned into plain objects by
 * `formatError` (their message, stack and cause are not enumerable otherwise).
 */
export function redact(
  value: unknown,
  formatError: (e: Error) => unknown = (e) => ({ name: e.name, message: e.message, stack: e.stack }),
  depth = 0,
): unknown {
  if (typeof value === 'string') return scrub(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > MAX_DEPTH) return '[truncated]';
  if (value instanceof Error) return redact(formatError(value), formatError, depth + 1);
  if (value instanceof Date) return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, formatError, depth + 1));
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([k, v]) => [
      k,
      isSecretKey(k) ? '[redacted]' : redact(v, formatError, depth + 1),
    ]),
  );
}

/**
 * Powertools' standard JSON shape (the same keys as its default formatter, the Lambda context's
 * included: the kits call `logger.addContext`), plus the current correlation ids, with every
 * entry's attributes (persistent keys, extra arguments, errors with their causes) and its message
 * passed through {@link redact} before anything is written.
 */
export class RedactingLogFormatter extends LogFormatter {
  override formatAttributes(attributes: UnformattedAttributes, additional: LogAttributes): LogItem {
    const base = {
      level: attributes.logLevel,
      message: scrub(String(attributes.message ?? '')),
      timestamp: this.formatTimestamp(attributes.timestamp),
      service: attributes.serviceName,
      cold_start: attributes.lambdaContext?.coldStart,
      function_arn: attributes.lambdaContext?.invokedFunctionArn,
      function_memory_size: attributes.lambdaContext?.memoryLimitInMB,
      function_name: attributes.lambdaContext?.functionName,
      function_request_id: attributes.lambdaContext?.awsRequestId,
      sampling_rate: attributes.sampleRateValue,
      xray_trace_id: attributes.xRayTraceId,
    };
    // The correlation ids of the unit of work (shared/correlation.ts), read per line, so
    // invocations running side by side in one process (the local runtime) keep their own.
    const ids = currentCorrelation();
    const safe = redact(ids ? { ...ids, ...additional } : additional, (e) =>
      this.formatError(e),
    ) as LogAttributes;
    return new LogItem({ attributes: base }).addAttributes(safe);
  }
}

/** The one structured JSON logger of the service; see {@link RedactingLogFormatter}. */
export const logger = new Logger({
  serviceName: 'pronaflow-integrations',
  logLevel: (process.env.LOG_LEVEL as 'INFO' | undefined) ?? (process.env.VITEST ? 'SILENT' : 'INFO'),
  logFormatter: new RedactingLogFormatter(),
});
