import { beforeAll, describe, expect, it } from 'vitest';
import { useOAuthLocalStack } from '#test/helpers/oauth-setup.ts';

let jwt: string;

const { e2e, ref } = useOAuthLocalStack('oauth');

beforeAll(async () => {
  jwt = await e2e.session();
});

// biome-ignore lint/suspicious/noExplicitAny: JSON answers read like a client would
const json = async (res: Response): Promise<any> => res.json();

const call = (method: string, path: string, body?: unknown) =>
  e2e.call(path, jwt, { method, body: body ? JSON.stringify(body) : undefined });

describe('OAuth over HTTP (local stack)', () => {
  it('connects an app end to end (browser redirect, then the session completes), refreshes and disconnects', async () => {
    const apps = await json(await call('GET', '/oauth/apps'));
    expect(apps.data.map((a: { id: string }) => a.id)).toContain('fake');

    const started = await call('POST', '/oauth/connections', {
      oauth_app_id: 'fake',
      scopes: ['read', 'write'],
    });
    expect(started.status).toBe(201);
    const { authorization_url } = await json(started);

    // The browser: provider consent, then the redirect to our GET /oauth/callback.
    const consent = await fetch(authorization_url, { redirect: 'manual' });
    const redirect = consent.headers.get('location') as string;
    expect(redirect.startsWith(`${e2e.api}/oauth/callback?`)).toBe(true);
    const page = await fetch(redirect);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(await page.text()).toContain('Return to PronaFlow');
    // The public page completed nothing.
    expect((await json(await call('GET', '/oauth/connections'))).data).toHaveLength(0);
    expect(ref.provider.calls.authorizationCode).toBe(0);

    // The front end completes with the user's session.
    const back = new URL(redirect).searchParams;
    const body = { code: back.get('code'), state: back.get('state') };
    const completed = await call('POST', '/oauth/callback', body);
    expect(completed.status).toBe(201);
    expect((await call('POST', '/oauth/callback', body)).status).toBe(400); // the state is single use

    const list = await json(await call('GET', '/oauth/connections'));
    expect(list.data).toHaveLength(1);
    const conn = list.data[0];
    expect(conn).toMatchObject({ status: 'ACTIVE', scopes: ['read', 'write'], access_token: '[hidden]' });

    const refreshed = await call('POST', `/oauth/connections/${conn.id}/refresh`);
    expect(refreshed.status).toBe(200);
    expect((await json(refreshed)).last_refreshed_at).toEqual(expect.any(String));

    const removed = await call('DELETE', `/oauth/connections/${conn.id}`);
    expect(removed.status).toBe(204);
    expect(ref.provider.calls.revoke).toBe(2);
    expect((await call('GET', `/oauth/connections/${conn.id}`)).status).toBe(404);
  });

  it('documents the OAuth endpoints as available in the OpenAPI document', async () => {
    const doc = await json(await fetch(`${e2e.api}/openapi.json`));
    const op = doc.paths['/v1/integration/oauth/connections'].post;
    expect(op['x-pending']).toBeUndefined();
    const landing = doc.paths['/v1/integration/oauth/callback'].get;
    expect(landing.responses['200'].content['text/html']).toBeDefined();
    expect(landing.responses['302']).toBeDefined();
  });
});
