import { beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ThrowingPronaFlowClient } from '#shared/client/index.ts';
import { useOAuthLocalStack } from '#test/helpers/oauth-setup.ts';

/** The typed client (shared/client) against the running local stack: the OAuth connections walk-through. */
let api: ThrowingPronaFlowClient;

const { e2e } = useOAuthLocalStack('client-oauth');

beforeAll(async () => {
  api = createClient({ baseUrl: e2e.stack.baseUrl, token: await e2e.session(), throwOnError: true });
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
