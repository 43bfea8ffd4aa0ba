import { describe, expect, it } from 'vitest';
import { routes } from '#functions/routes.ts';
import { ConfigError, parseConfig } from '#shared/config.ts';
import { endpoint } from '#shared/http/endpoint.ts';
import { ok } from '#shared/http/reply.ts';
import { queueWorker } from '#shared/queue-worker.ts';
import { setEnv } from '#test/helpers/env.ts';

describe('parseConfig', () => {
  it('uses the product defaults when nothing is set', () => {
    const cfg = parseConfig({});
    expect(cfg).toMatchObject({
      API_TOKEN_EXPIRY_DAYS: 365,
      API_TOKEN_HASH_ALGORITHM: 'sha256',
      RATE_LIMIT_TIER_FREE_REQ_PER_MIN: 60,
      RATE_LIMIT_TIER_PRO_REQ_PER_MIN: 1000,
      RATE_LIMIT_TIER_ENTERPRISE_REQ_PER_MIN: 5000,
      RATE_LIMIT_WINDOW_SECONDS: 60,
      WEBHOOK_MAX_RETRIES: 5,
      WEBHOOK_RETRY_BACKOFF_SECONDS: 60,
      WEBHOOK_TIMEOUT_SECONDS: 30,
      WEBHOOK_MAX_PAYLOAD_SIZE_KB: 1024,
      WEBHOOK_DELIVERY_TTL_HOURS: 24,
      OAUTH_TOKEN_EXPIRY_MINUTES: 60,
      OAUTH_REFRESH_TOKEN_EXPIRY_DAYS: 30,
      OAUTH_AUTHORIZATION_CODE_EXPIRY_MINUTES: 10,
      OAUTH_REDIRECT_URI_BASE: 'http://localhost:3000',
      PLUGIN_MAX_SIZE_MB: 50,
      PLUGIN_MAX_INSTALLABLE_PER_WORKSPACE: 100,
      PLUGIN_EXECUTION_TIMEOUT_SECONDS: 30,
      CONSENT_POLICY_VERSION: 1,
      CONSENT_AUDIT_LOG_RETENTION_DAYS: 2555,
      ALLOW_LOOPBACK_TARGETS: false,
    });
  });

  it('reads numbers and booleans from strings', () => {
    const cfg = parseConfig({ RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '10', ALLOW_LOOPBACK_TARGETS: 'true' });
    expect(cfg.RATE_LIMIT_TIER_FREE_REQ_PER_MIN).toBe(10);
    expect(cfg.ALLOW_LOOPBACK_TARGETS).toBe(true);
  });

  it('fails naming every bad variable', () => {
    const attempt = () =>
      parseConfig({
        WEBHOOK_MAX_RETRIES: 'lots',
        OAUTH_REDIRECT_URI_BASE: 'not a url',
        ALLOW_LOOPBACK_TARGETS: 'yes',
      });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/WEBHOOK_MAX_RETRIES/);
    expect(attempt).toThrow(/OAUTH_REDIRECT_URI_BASE/);
    expect(attempt).toThrow(/ALLOW_LOOPBACK_TARGETS/);
  });

  it('requires a session key source in production', () => {
    expect(() => parseConfig({ NODE_ENV: 'production' })).toThrow(/AUTH_JWKS_URL/);
    expect(
      parseConfig({ NODE_ENV: 'production', AUTH_JWKS_URL: 'https://id.example/jwks' }).AUTH_JWKS_URL,
    ).toBe('https://id.example/jwks');
  });

  it('fails when a function is built (Lambda init), not on its first request', () => {
    setEnv({ WEBHOOK_MAX_RETRIES: 'lots' });
    try {
      expect(() => endpoint(routes.health, () => ok({}))).toThrow(/WEBHOOK_MAX_RETRIES/);
      expect(() => queueWorker('test', async () => undefined)).toThrow(/WEBHOOK_MAX_RETRIES/);
    } finally {
      setEnv({ WEBHOOK_MAX_RETRIES: undefined });
    }
  });
});
