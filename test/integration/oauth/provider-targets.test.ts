import { type AddressInfo, createServer, type Server } from 'node:net';
import * as v from 'valibot';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { handler as createConnection } from '#functions/oauth/create-connection.ts';
import { handler as deleteConnection } from '#functions/oauth/delete-connection.ts';
import { handler as listConnections } from '#functions/oauth/list-connections.ts';
import { handler as callback } from '#functions/oauth/oauth-callback.ts';
import { handler as refreshEndpoint } from '#functions/oauth/refresh-connection.ts';
import { routes } from '#functions/routes.ts';
import { catalog, type OAuthApp, oauthAppSchema } from '#shared/oauth/catalog.ts';
import { reload } from '#shared/oauth/connections-repo.ts';
import { exchangeCode, ProviderError } from '#shared/oauth/provider.ts';
import { setEnv } from '#test/helpers/env.ts';
import { useFakeDns } from '#test/helpers/fake-dns.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { fakeApp } from '#test/helpers/oauth-provider.ts';
import { captureLogs, connectThroughFlow, useOAuthEnv } from '#test/helpers/oauth-setup.ts';

// Provider calls go through the outbound guard (shared/net): the host is resolved, every address
// checked, and the connection made to the checked address. DNS here is a table (useFakeDns): names
// resolve on this machine only, also for a client that would bypass the guard.

const env = useOAuthEnv();
const dns = useFakeDns();

/** A TCP listener on 127.0.0.1 that only counts connections: any refused call must leave it at 0. */
let trap: { port: number; connections: number; server: Server };
let alice: string;

beforeAll(async () => {
  setEnv({ RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '100000' });
  const server = createServer((socket) => {
    trap.connections++;
    socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  trap = { port: (server.address() as AddressInfo).port, connections: 0, server };
  alice = await env.id.jwt('alice', 'ws1');
  const creds = JSON.stringify({
    client_id: env.provider.clientId,
    client_secret: env.provider.clientSecret,
  });
  for (const id of ['trap', 'moving', 'rebind']) env.secrets.set(`pronaflow-integrations/oauth/${id}`, creds);
});
afterEach(() => {
  env.writeApps([]); // a valid file again before the settings are re-read
  setEnv({ ALLOW_LOOPBACK_TARGETS: 'true' });
  dns.clear();
  trap.connections = 0;
});
afterAll(() => {
  trap?.server.close();
});

const providerPort = () => new URL(env.provider.url).port;
/** An app whose endpoints are `https://<host>:<trap port>/…`. */
const trapApp = (host: string, id = 'trap') => fakeApp({ url: `https://${host}:${trap.port}` }, { id });

async function startAuthorization(app: string) {
  const res = await invoke(createConnection, routes.createConnection, {
    token: alice,
    body: { oauth_app_id: app },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { state: string; authorization_url: string };
}

describe('OAuth provider calls reach only checked public addresses', () => {
  it('refuses a token endpoint whose name resolves to 127.0.0.1 without connecting: 502 invalid_endpoint, nothing stored', async () => {
    setEnv({ ALLOW_LOOPBACK_TARGETS: 'false' });
    dns.answer('provider.invalid', ['127.0.0.1']);
    env.writeApps([trapApp('provider.invalid')]); // https and a qualified name: the catalog accepts it
    const { state } = await startAuthorization('trap');
    const logs = captureLogs();

    let res: Awaited<ReturnType<typeof invoke>>;
    try {
      res = await invoke(callback, routes.oauthCallback, {
        token: alice,
        body: { state, code: 'code-1234' },
      });
    } finally {
      logs.stop();
    }

    expect(res.status).toBe(502);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.body).toMatchObject({
      type: expect.stringContaining('upstream-error'),
      oauth_app_id: 'trap',
      provider_error: 'invalid_endpoint',
      detail: expect.stringMatching(/not allowed.*internal address.*OAUTH_APPS_FILE/),
    });
    // The caller learns that the target is internal, not which address it is; the operator's log does.
    expect(JSON.stringify(res.body)).not.toContain('127.0.0.1');
    expect(logs.lines()).toMatch(/oauth provider target refused.*127\.0\.0\.1.*loopback/);
    expect(trap.connections).toBe(0);
    const list = await invoke(listConnections, routes.listConnections, {
      token: alice,
      query: { oauth_app_id: 'trap' },
    });
    expect(list.body.data).toEqual([]);
  });

  it('refuses refresh and revocation once the provider name is re-pointed at 127.0.0.1, without connecting', async () => {
    // Connected while the name pointed at the (local, allowed) fake provider.
    dns.answer('provider.invalid', ['127.0.0.1']);
    env.writeApps([fakeApp({ url: `http://provider.invalid:${providerPort()}` }, { id: 'moving' })]);
    const conn = await connectThroughFlow(env, alice, 'alice', 'moving');
    // Production settings, and the app's endpoints now on a port where only the trap listens.
    setEnv({ ALLOW_LOOPBACK_TARGETS: 'false' });
    env.writeApps([trapApp('provider.invalid', 'moving')]);

    const refreshed = await invoke(refreshEndpoint, routes.refreshConnection, {
      token: alice,
      params: { id: conn.id },
    });
    const stored = await reload(conn);
    const deleted = await invoke(deleteConnection, routes.deleteConnection, {
      token: alice,
      params: { id: conn.id },
    });

    expect(refreshed.status).toBe(502);
    expect(refreshed.body).toMatchObject({ provider_error: 'invalid_endpoint', oauth_app_id: 'moving' });
    expect(JSON.stringify(refreshed.body)).not.toContain('127.0.0.1');
    expect(stored).toMatchObject({ status: 'ERROR', last_error: { code: 'invalid_endpoint' } });
    // Revocation is best effort: the connection and its tokens are deleted all the same.
    expect(deleted.status).toBe(204);
    expect(await reload(conn)).toBeUndefined();
    expect(trap.connections).toBe(0);
  });

  it.each([
    ['localhost.', 'loopback name'],
    ['metadata.google.internal', 'local-only name'],
  ])('refuses %s in OAUTH_APPS_FILE and at call time, without connecting', async (host, why) => {
    setEnv({ ALLOW_LOOPBACK_TARGETS: 'false' });
    catalog(); // settings read while the file is valid (a bad file fails them: a configuration error)
    dns.answer(host, ['127.0.0.1']); // as a resolver that answers these names would
    env.writeApps([trapApp(host)]);

    // A configuration error naming the field…
    expect(() => catalog()).toThrow(new RegExp(`\\[0\\.token_url\\] must not point at .*${why}`));
    // …and the call itself refuses, should such an app reach it anyway.
    const app = {
      ...v.parse(oauthAppSchema, fakeApp({ url: 'https://auth.example' }, { id: 'trap' })),
      token_url: `https://${host}:${trap.port}/token`,
    } as OAuthApp;
    const err = await exchangeCode(
      app,
      { client_id: 'c', client_secret: 's' },
      { code: 'x', redirectUri: 'https://app.example/cb' },
    ).catch((e) => e);

    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ providerError: 'invalid_endpoint', status: 502 });
    expect(trap.connections).toBe(0);
    expect(dns.asked.system).toEqual([]);
  });

  it('exchanges the code at the address it checked even though DNS answers otherwise afterwards (no rebinding window)', async () => {
    dns.answer('rebind.invalid', ['127.0.0.1']);
    env.writeApps([fakeApp({ url: `http://rebind.invalid:${providerPort()}` }, { id: 'rebind' })]);
    const { authorization_url } = await startAuthorization('rebind');
    const back = await env.provider.authorize(authorization_url); // the browser's step
    dns.asked.guard.length = 0;
    dns.asked.system.length = 0;
    const exchanges = env.provider.calls.authorizationCode;
    // From the guard's answer on, the name points where nothing listens (127.0.0.2).
    dns.rebindAfterCheck('rebind.invalid', ['127.0.0.2']);

    const res = await invoke(callback, routes.oauthCallback, {
      token: alice,
      body: { state: back.get('state'), code: back.get('code') },
    });

    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(env.provider.calls.authorizationCode).toBe(exchanges + 1);
    // Resolved once, by the guard; the connection asked nothing more.
    expect(dns.asked).toEqual({ guard: ['rebind.invalid'], system: [] });
  });
});
