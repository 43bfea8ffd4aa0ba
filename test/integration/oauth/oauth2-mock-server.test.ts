import { OAuth2Server } from 'oauth2-mock-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as createConnection } from '#functions/oauth/create-connection.ts';
import { handler as callback } from '#functions/oauth/oauth-callback.ts';
import { routes } from '#functions/routes.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { useOAuthEnv } from '#test/helpers/oauth-setup.ts';

// Interoperability with a third-party OAuth 2 server (oauth2-mock-server) on 127.0.0.1. It checks
// the PKCE code_verifier when one is sent; the stricter fake provider covers the rest.
const env = useOAuthEnv();
const server = new OAuth2Server();
let token: string;

beforeAll(async () => {
  await server.issuer.keys.generate('RS256');
  await server.start(0, '127.0.0.1');
  const base = server.issuer.url as string;
  env.writeApps([
    {
      id: 'mock',
      name: 'oauth2-mock-server',
      authorize_url: `${base}/authorize`,
      token_url: `${base}/token`,
      revoke_url: `${base}/revoke`,
      scopes: ['openid', 'profile'],
      default_scopes: ['openid'],
      pkce: true,
    },
  ]);
  env.secrets.set(
    'pronaflow-integrations/oauth/mock',
    JSON.stringify({ client_id: 'c1', client_secret: 's1' }),
  );
  token = await env.id.jwt('carol', 'ws1');
});
afterAll(async () => {
  await server.stop();
});

async function authorize(authorizationUrl: string) {
  const res = await fetch(authorizationUrl, { redirect: 'manual' });
  return new URL(res.headers.get('location') as string).searchParams;
}

describe('against oauth2-mock-server', () => {
  it('runs authorization code + PKCE to a connection with its scopes and expiry', async () => {
    const auth = await invoke(createConnection, routes.createConnection, {
      token,
      body: { oauth_app_id: 'mock' },
    });
    expect(auth.status).toBe(201);
    const back = await authorize(auth.body.authorization_url);
    expect(back.get('state')).toBe(auth.body.state);
    const res = await invoke(callback, routes.oauthCallback, {
      token,
      body: { state: back.get('state'), code: back.get('code') },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ oauth_app_id: 'mock', status: 'ACTIVE', has_refresh_token: true });
  });

  it('is refused by the server when the verifier does not match the challenge', async () => {
    const a = await invoke(createConnection, routes.createConnection, {
      token,
      body: { oauth_app_id: 'mock' },
    });
    const b = await invoke(createConnection, routes.createConnection, {
      token,
      body: { oauth_app_id: 'mock' },
    });
    const backA = await authorize(a.body.authorization_url);
    const res = await invoke(callback, routes.oauthCallback, {
      token,
      body: { state: b.body.state, code: backA.get('code') },
    });
    expect(res.status).toBe(502);
    // It answers a bare 400 (no OAuth `error` member), which we report by status.
    expect(res.body.provider_error).toBe('http_400');
  });
});
