import * as v from 'valibot';
import { check, coerceNumber, url } from '#shared/validation.ts';

const bool = v.optional(
  v.pipe(
    v.picklist(['true', 'false', '1', '0']),
    v.transform((value) => value === 'true' || value === '1'),
  ),
  'false',
);
const int = (def: number, min = 0) =>
  v.optional(v.pipe(coerceNumber(), v.safeInteger(), v.minValue(min)), def);
const csv = (def: string) =>
  v.pipe(
    v.optional(v.string(), def),
    v.transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  );

/**
 * Every setting of the service, read from the environment. Defaults follow the product spec.
 * Parsed once per process (see {@link config}); a bad value fails at start naming the variable.
 */
export const configSchema = v.object({
  // API tokens
  API_TOKEN_EXPIRY_DAYS: int(365, 1),
  API_TOKEN_MAX_EXPIRY_DAYS: int(366 * 2, 1),
  API_TOKEN_HASH_ALGORITHM: v.optional(v.picklist(['sha256']), 'sha256'),
  API_USAGE_LOG_RETENTION_DAYS: int(90, 1),
  // Rate limiting (requests per window)
  RATE_LIMIT_TIER_FREE_REQ_PER_MIN: int(60, 1),
  RATE_LIMIT_TIER_PRO_REQ_PER_MIN: int(1000, 1),
  RATE_LIMIT_TIER_ENTERPRISE_REQ_PER_MIN: int(5000, 1),
  RATE_LIMIT_WINDOW_SECONDS: int(60, 1),
  // Webhooks
  WEBHOOK_MAX_RETRIES: int(5),
  WEBHOOK_RETRY_BACKOFF_SECONDS: int(60),
  // At most 30 s: an attempt (DNS included) plus the lease margin must fit the delivery worker's
  // 60 s Lambda timeout (functions/workers.ts).
  WEBHOOK_TIMEOUT_SECONDS: v.optional(
    v.pipe(coerceNumber(), v.safeInteger(), v.minValue(1), v.maxValue(30)),
    30,
  ),
  WEBHOOK_MAX_PAYLOAD_SIZE_KB: int(1024, 1),
  WEBHOOK_DELIVERY_TTL_HOURS: int(24, 1),
  WEBHOOK_HISTORY_RETENTION_DAYS: int(30, 1),
  WEBHOOK_DISABLE_AFTER_CONSECUTIVE_FAILURES: int(50, 1),
  ALLOW_LOOPBACK_TARGETS: bool,
  // OAuth
  OAUTH_TOKEN_EXPIRY_MINUTES: int(60, 1),
  OAUTH_REFRESH_TOKEN_EXPIRY_DAYS: int(30, 1),
  OAUTH_AUTHORIZATION_CODE_EXPIRY_MINUTES: int(10, 1),
  OAUTH_REDIRECT_URI_BASE: v.optional(url(), 'http://localhost:3000'),
  /** The PronaFlow front-end page that finishes connections (POST /oauth/callback with the session). */
  OAUTH_COMPLETE_URL: v.optional(url()),
  OAUTH_APPS_FILE: v.optional(v.string()),
  OAUTH_HTTP_TIMEOUT_SECONDS: int(10, 1),
  OAUTH_REFRESH_MARGIN_SECONDS: int(300, 0),
  // Plugins
  PLUGIN_MAX_SIZE_MB: int(50, 1),
  PLUGIN_MAX_INSTALLABLE_PER_WORKSPACE: int(100, 1),
  PLUGIN_EXECUTION_TIMEOUT_SECONDS: int(30, 1),
  // Data sync bindings
  /** Seconds one sync invocation works on a run before it hands the rest to the next message. */
  SYNC_INVOCATION_SECONDS: int(240, 5),
  /** At most this many pages per invocation (0: only the time budget counts). */
  SYNC_MAX_PAGES_PER_INVOCATION: int(0, 0),
  SYNC_MAX_BINDINGS_PER_WORKSPACE: int(50, 1),
  // Consent & governance
  CONSENT_POLICY_VERSION: int(1, 1),
  CONSENT_AUDIT_LOG_RETENTION_DAYS: int(2555, 1),
  // HTTP
  MAX_BODY_SIZE_KB: int(256, 1),
  CORS_ALLOWED_ORIGINS: csv('*'),
  // Identity: PronaFlow session JWTs
  AUTH_JWT_ISSUER: v.optional(v.pipe(v.string(), v.minLength(1)), 'https://identity.pronaflow.local'),
  AUTH_JWT_AUDIENCE: v.optional(v.pipe(v.string(), v.minLength(1)), 'pronaflow-integrations'),
  AUTH_JWT_ALGORITHMS: csv('ES256,RS256,EdDSA'),
  AUTH_JWKS_URL: v.optional(url()),
  AUTH_JWT_PUBLIC_KEY: v.optional(v.string()),
  // Infrastructure
  TABLE_NAME: v.optional(v.pipe(v.string(), v.minLength(3)), 'pronaflow-integrations'),
  DYNAMODB_ENDPOINT: v.optional(url()),
  SQS_ENDPOINT: v.optional(url()),
  /** S3 API endpoint override (the local emulator); when set, requests use path-style URLs. */
  S3_ENDPOINT: v.optional(url()),
  SECRETS_SOURCE: v.optional(v.picklist(['aws', 'file']), 'aws'),
  LOCAL_SECRETS_FILE: v.optional(v.string()),
  SECRETS_PREFIX: v.optional(v.string(), 'pronaflow-integrations/'),
  INGEST_QUEUE_URL: v.optional(v.string(), ''),
  DELIVERY_QUEUE_URL: v.optional(v.string(), ''),
  SYNC_QUEUE_URL: v.optional(v.string(), ''),
  USAGE_QUEUE_URL: v.optional(v.string(), ''),
  PLUGIN_JOBS_QUEUE_URL: v.optional(v.string(), ''),
  LIFECYCLE_QUEUE_URL: v.optional(v.string(), ''),
  RECORDS_QUEUE_URL: v.optional(v.string(), ''),
  // Buckets (shared/bucket-catalog.ts): set, with its grant, on the functions holding bucket:<id>:read|write
  PACKAGES_BUCKET_NAME: v.optional(v.string(), ''),
  // Webhooks: the deliveries DLQ (found from the delivery queue's redrive policy when unset)
  DELIVERY_DLQ_URL: v.optional(v.string()),
  // The status view: every DLQ (`<queue id>=<url>` pairs), set with the grant queue:dlqs:read-attributes
  DLQ_URLS: v.optional(v.string()),
  SERVICE_VERSION: v.optional(v.string(), '0.1.0'),
});

export type Config = v.InferOutput<typeof configSchema>;

/** Raised when the environment holds an invalid setting; the message names each bad variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses an environment object; throws {@link ConfigError} naming every bad variable. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = check(configSchema, cleaned);
  if (!result.success) {
    const problems = result.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  const cfg = result.data;
  if (!cfg.AUTH_JWKS_URL && !cfg.AUTH_JWT_PUBLIC_KEY && env.NODE_ENV === 'production') {
    throw new ConfigError('Invalid configuration: AUTH_JWKS_URL or AUTH_JWT_PUBLIC_KEY must be set');
  }
  return cfg;
}

let cached: Config | undefined;

/**
 * Checks of settings that a schema alone cannot make (a file that must hold valid JSON, say),
 * registered by the module that reads the setting. Each runs whenever a configuration is
 * validated — at Lambda init (the first `config()`) and at `npm start` before anything starts —
 * and throws a {@link ConfigError} naming the variable and the problem.
 */
const checks = new Map<string, (cfg: Config) => void>();

/** Registers a check of `variable` (see {@link checks}); runs at once when a configuration is loaded already. */
export function registerSettingsCheck(variable: string, check: (cfg: Config) => void): void {
  checks.set(variable, check);
  if (cached) runCheck(variable, check, cached);
}

function runCheck(variable: string, check: (cfg: Config) => void, cfg: Config): void {
  try {
    check(cfg);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`Invalid configuration: ${variable}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Parses `env` and runs every registered settings check on the result. While the checks run,
 * `config()` answers with that configuration, so a check may use code that reads settings.
 */
export function validateConfig(env: Record<string, string | undefined>): Config {
  const cfg = parseConfig(env);
  const previous = cached;
  cached = cfg;
  try {
    for (const [variable, check] of checks) runCheck(variable, check, cfg);
  } finally {
    cached = previous;
  }
  return cfg;
}

/** The process configuration, parsed and checked on first use from `process.env`. */
export function config(): Config {
  cached ??= validateConfig(process.env);
  return cached;
}

/** Forgets the parsed configuration (tests and the local runtime change the environment). */
export function resetConfig(): void {
  cached = undefined;
}
