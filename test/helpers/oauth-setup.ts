import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, vi } from 'vitest';
import { resetConfig } from '#shared/config.ts';
import { logger } from '#shared/logger.ts';
import { resetCatalog } from '#shared/oauth/catalog.ts';
import { setEnv, useTestTable } from './env.ts';
import { invoke } from './http-event.ts';
import { type E2E, useLocalStack } from './local-stack.ts';
import { type FakeProvider, fakeApp, startFakeProvider } from './oauth-provider.ts';
import { useMemorySecrets } from './secrets.ts';
import { type TestIdentity, testIdentity } from './session.ts';

export interface OAuthTestEnv {
  provider: FakeProvider;
  id: TestIdentity;
  secrets: Map<string, string>;
  appsFile: string;
  /** Rewrites OAUTH_APPS_FILE with these apps. */
  writeApps: (apps: unknown[]) => void;
}

export const REDIRECT_BASE = 'https://app.pronaflow.test';

/**
 * For an OAuth test file: its own table, a fake provider on 127.0.0.1 registered as app `fake`
 * (and `fake-norevoke` without a revocation endpoint) through OAUTH_APPS_FILE, its client
 * credentials in an in-memory secret source, and a session identity.
 */
export function useOAuthEnv(): OAuthTestEnv {
  const table = useTestTable();
  void table;
  const env = {} as OAuthTestEnv;
  beforeAll(async () => {
    env.provider = await startFakeProvider();
    const dir = mkdtempSync(join(tmpdir(), 'oauth-apps-'));
    env.appsFile = join(dir, 'apps.json');
    env.writeApps = (apps) => {
      writeFileSync(env.appsFile, JSON.stringify(apps));
      resetCatalog();
    };
    env.writeApps([
      fakeApp(env.provider),
      fakeApp(env.provider, { id: 'fake-norevoke', revoke_url: null }),
      fakeApp(env.provider, { id: 'fake-unconfigured' }),
    ]);
    setEnv({
      OAUTH_APPS_FILE: env.appsFile,
      ALLOW_LOOPBACK_TARGETS: 'true',
      OAUTH_REDIRECT_URI_BASE: REDIRECT_BASE,
    });
    const creds = JSON.stringify({
      client_id: env.provider.clientId,
      client_secret: env.provider.clientSecret,
    });
    env.secrets = useMemorySecrets({ 'oauth/fake': creds, 'oauth/fake-norevoke': creds });
    env.id = await testIdentity();
  });
  afterAll(async () => {
    await env.provider?.stop();
  });
  return env;
}

/** Captures every log line written while the returned `stop` is not called (level DEBUG). */
export function captureLogs(): { lines: () => string; stop: () => void } {
  const chunks: string[] = [];
  logger.setLogLevel('DEBUG');
  const spies = [process.stdout, process.stderr].map((stream) =>
    vi.spyOn(stream, 'write').mockImplementation((chunk: unknown) => {
      chunks.push(String(chunk));
      return true;
    }),
  );
  return {
    lines: () => chunks.join(''),
    stop: () => {
      for (const s of spies) s.mockRestore();
      logger.setLogLevel('SILENT');
    },
  };
}

/**
 * Connects `userId` (holding the session `token`) to `app` through the whole authorization-code
 * flow: start, consent at the fake provider, POST /oauth/callback. Returns the stored connection.
 */
export async function connectThroughFlow(env: OAuthTestEnv, token: string, userId: string, app = 'fake') {
  const [{ routes }, { handler: start }, { handler: complete }, { getConnection }] = await Promise.all([
    import('#functions/routes.ts'),
    import('#functions/oauth/create-connection.ts'),
    import('#functions/oauth/oauth-callback.ts'),
    import('#shared/oauth/connections-repo.ts'),
  ]);
  const auth = await invoke(start, routes.createConnection, { token, body: { oauth_app_id: app } });
  const back = await env.provider.authorize(auth.body.authorization_url);
  const res = await invoke(complete, routes.oauthCallback, {
    token,
    body: { state: back.get('state'), code: back.get('code') },
  });
  expect(res.status).toBe(201);
  const connection = await getConnection('ws1', userId, res.body.id);
  if (!connection) throw new Error('the connection was not stored');
  return connection;
}

/**
 * The local runtime with a fake OAuth provider as its one app (`fake`), as an operator would set
 * it up: the apps file, the browser sent back to this very server, and the app's client secret in
 * the local secret source (what `npm run -s dev:secret -- oauth/fake '{…}'` does). `ref.provider`
 * is set once the stack starts; it is stopped after the file.
 */
export function useOAuthLocalStack(name: string): { e2e: E2E; ref: { provider: FakeProvider } } {
  const ref = {} as { provider: FakeProvider };
  const e2e = useLocalStack(name, {
    workers: false,
    before: async (dir) => {
      ref.provider = await startFakeProvider();
      const appsFile = join(dir, 'apps.json');
      writeFileSync(appsFile, JSON.stringify([fakeApp(ref.provider)]));
      return { env: { OAUTH_APPS_FILE: appsFile } };
    },
  });
  beforeAll(() => {
    process.env.OAUTH_REDIRECT_URI_BASE = e2e.stack.baseUrl;
    resetConfig();
    resetCatalog();
    const secretsFile = join(e2e.dir, 'secrets.json');
    const all = JSON.parse(readFileSync(secretsFile, 'utf8'));
    all['pronaflow-integrations/oauth/fake'] = JSON.stringify({
      client_id: ref.provider.clientId,
      client_secret: ref.provider.clientSecret,
    });
    writeFileSync(secretsFile, JSON.stringify(all));
  });
  afterAll(async () => {
    await ref.provider?.stop();
  });
  return { e2e, ref };
}
