import { existsSync, readFileSync, statSync } from 'node:fs';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { config } from '#shared/config.ts';
import { assertGranted } from '#shared/runtime-grants.ts';
import { traced } from '#shared/tracing.ts';

export interface SecretReadOptions {
  /**
   * Read the current value, bypassing (and refreshing) any cache: for a value known to have
   * changed, such as the keyring when a ciphertext names a key the cached copy lacks.
   */
  fresh?: boolean;
}

/** Where secrets come from: AWS Secrets Manager in AWS, a git-ignored JSON file locally. */
export interface SecretSource {
  /** The secret's string value, or undefined when it does not exist. */
  get(name: string, opts?: SecretReadOptions): Promise<string | undefined>;
}

/**
 * How long a Lambda keeps a secret it read: a changed secret (a rotated keyring) may be unseen by
 * a warm function for this long, so whatever waits for every writer to use the new value (the
 * OAuth re-encrypt job) waits at least this long after the change.
 */
export const SECRETS_CACHE_SECONDS = 300;

/** Secrets Manager, read through Powertools with a five-minute cache. */
export class AwsSecretSource implements SecretSource {
  private readonly provider: SecretsProvider;
  constructor(client: SecretsManagerClient = traced(new SecretsManagerClient({}))) {
    this.provider = new SecretsProvider({ awsSdkV3Client: client });
  }
  async get(name: string, opts: SecretReadOptions = {}): Promise<string | undefined> {
    try {
      const value = await this.provider.get(name, {
        maxAge: SECRETS_CACHE_SECONDS,
        ...(opts.fresh ? { forceFetch: true } : {}),
      });
      return typeof value === 'string' ? value : undefined;
    } catch (err) {
      if (String((err as Error)?.cause ?? err).includes('ResourceNotFoundException')) return undefined;
      throw err;
    }
  }
}

/**
 * A JSON file `{ "<name>": "<value>" }`, re-read when it changes so `npm run dev:secret` takes
 * effect while the local runtime runs. For local development only.
 */
export class FileSecretSource implements SecretSource {
  private cache: { mtimeMs: number; values: Record<string, string> } | undefined;
  constructor(private readonly file: string) {}
  async get(name: string, opts: SecretReadOptions = {}): Promise<string | undefined> {
    if (!existsSync(this.file)) return undefined;
    const { mtimeMs } = statSync(this.file);
    if (!this.cache || this.cache.mtimeMs !== mtimeMs || opts.fresh) {
      this.cache = { mtimeMs, values: JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, string> };
    }
    return this.cache.values[name];
  }
}

let source: SecretSource | undefined;

/** The configured secret source; names are relative to SECRETS_PREFIX (e.g. `oauth/github`). */
export function secrets(): SecretSource {
  if (!source) {
    const cfg = config();
    if (cfg.SECRETS_SOURCE === 'file') {
      if (!cfg.LOCAL_SECRETS_FILE) throw new Error('SECRETS_SOURCE=file needs LOCAL_SECRETS_FILE');
      source = new FileSecretSource(cfg.LOCAL_SECRETS_FILE);
    } else {
      source = new AwsSecretSource();
    }
  }
  const inner = source;
  const prefix = config().SECRETS_PREFIX;
  return {
    get: async (name, opts) => {
      // Where AWS is emulated, so is IAM: the data keys and OAuth app secrets need their grant.
      assertGranted(
        `the secret ${name}`,
        name.startsWith('oauth/') ? 'secrets:oauth:read' : 'secrets:keys:read',
      );
      return inner.get(`${prefix}${name}`, opts);
    },
  };
}

/** Replaces the secret source (tests). */
export function setSecretSource(next: SecretSource | undefined): void {
  source = next;
}
