import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ThrowingPronaFlowClient } from '#shared/client/index.ts';
import { resetConfig } from '#shared/config.ts';
import { resetCatalog } from '#shared/oauth/catalog.ts';
import { useLocalStack } from '#test/helpers/local-stack.ts';
import { type FakeProvider, fakeApp, startFakeProvider } from '#test/helpers/oauth-provider.ts';

/** The typed client (shared/client) against the running local stack: the OAuth connections walk-through. */
let provider: FakeProvider;
let api: ThrowingPronaFlowClient;

const e2e = useLocalStack('client-oauth', {
  workers: false,
  before: async (dir) => {
    provider = await startFakeProvider();
    const appsFile = join(dir, 'apps.json');
    writeFileSync(appsFile, JSON.stringify([fakeApp(provider)]));
    return { env: { OAUTH_APPS_FILE: appsFile } };
  },
});

beforeAll(async () => {
  process.env.OAUTH_REDIRECT_URI_BASE = e2e.stack.baseUrl;
  resetConfig();
  resetCatalog();
  const secretsFile = join(e2e.dir, 'secrets.json');
  const all = JSON.parse(readFileSync(secretsFile, 'utf8'));
  all['pronaflow-integrations/oauth/fake'] = JSON.stringify({
    client_id: provider.clientId,
    client_secret: provider.clientSecret,
  });
  writeFileSync(secretsFile, JSON.stringify(all));
  api = createClient({ baseUrl: e2e.stack.baseUrl, token: await e2e.session(), throwOnError: true });
});

afterAll(async () => {
  await provider?.stop();
});

describe('typed client: OAuth connections', () => {
  it('starts a connection, completes the callback, lists, refreshes and disconnects it', async () => {
    const { data: apps } = await api.GET('/v1/integration/oauth/apps');
    expect(apps.data.map((a) => a.id)).toContain('fake');

    const { data: started } = await api.POST('/v1/integration/oauth/connections', {
      body: { oauth_app_id: 'fake', scopes: ['read', 'write'] },
    });
    // 201 starts an authorization (the other member of the union is an already connected app).
    if (!('authorization_url' in started)) throw new Error('expected a pending authorization');
    // The browser: the provider consents at once and redirects back with code and state.
    const consent = await fetch(started.authorization_url, { redirect: 'manual' });
    const back = new URL(consent.headers.get('location') as string).searchParams;
    const { response } = await api.POST('/v1/integration/oauth/callback', {
      body: { code: back.get('code') as string, state: back.get('state') as string },
    });
    expect(response.status).toBe(201);

    const { data: list } = await api.GET('/v1/integration/oauth/connections');
    expect(list.data).toHaveLength(1);
    const conn = list.data[0]!;
    expect(conn).toMatchObject({ status: 'ACTIVE', scopes: ['read', 'write'] });

    const { data: refreshed } = await api.POST('/v1/integration/oauth/connections/{id}/refresh', {
      params: { path: { id: conn.id } },
    });
    expect(refreshed.last_refreshed_at).toEqual(expect.any(String));

    await api.DELETE('/v1/integration/oauth/connections/{id}', { params: { path: { id: conn.id } } });
    const gone = await api.raw.GET('/v1/integration/oauth/connections/{id}', {
      params: { path: { id: conn.id } },
    });
    expect(gone.error?.status).toBe(404);
  });
});
