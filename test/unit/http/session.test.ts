import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort } from '#infra/local/ports.ts';
import { authenticateSession, resetSessionKeys } from '#shared/auth/session.ts';
import { setEnv } from '#test/helpers/env.ts';

const claims = { workspaces: [{ id: 'ws1', role: 'admin' }] };
const sign = (key: Parameters<SignJWT['sign']>[0], alg: string, kid?: string) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg, ...(kid ? { kid } : {}) })
    .setSubject('u1')
    .setIssuer('https://identity.pronaflow.local')
    .setAudience('pronaflow-integrations')
    .setExpirationTime('5m')
    .sign(key);

const servers: Server[] = [];
afterAll(() => {
  for (const s of servers) s.close();
});
afterEach(() => {
  setEnv({ AUTH_JWKS_URL: undefined, AUTH_JWT_PUBLIC_KEY: undefined });
  resetSessionKeys();
});

describe('session verification keys', () => {
  it('verifies RS256 tokens against an RSA public key given as PEM', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    setEnv({ AUTH_JWT_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }) as string });
    resetSessionKeys();
    const caller = await authenticateSession(await sign(privateKey, 'RS256'), undefined);
    expect(caller).toMatchObject({ userId: 'u1', workspaceId: 'ws1', role: 'admin' });
  });

  it("verifies tokens against the identity service's JWKS", async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    }).listen(0, '127.0.0.1');
    servers.push(server);
    await new Promise((r) => server.once('listening', r));
    setEnv({ AUTH_JWKS_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks` });
    resetSessionKeys();
    expect((await authenticateSession(await sign(privateKey, 'ES256', 'k1'), undefined)).userId).toBe('u1');
    const other = await generateKeyPair('ES256');
    await expect(
      authenticateSession(await sign(other.privateKey, 'ES256', 'k2'), undefined),
    ).rejects.toMatchObject({
      status: 401,
    });
  });

  it('answers 503, not 401, when the JWKS cannot be reached', async () => {
    setEnv({ AUTH_JWKS_URL: `http://127.0.0.1:${await freePort()}/jwks` });
    resetSessionKeys();
    const { privateKey } = await generateKeyPair('ES256');
    await expect(authenticateSession(await sign(privateKey, 'ES256', 'k1'), undefined)).rejects.toMatchObject(
      {
        status: 503,
      },
    );
  });

  it('answers 503 while no key is configured, and recovers once one is', async () => {
    setEnv({ AUTH_JWT_PUBLIC_KEY: undefined, AUTH_JWKS_URL: undefined });
    resetSessionKeys();
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const token = await sign(privateKey, 'ES256');
    await expect(authenticateSession(token, undefined)).rejects.toMatchObject({ status: 503 });
    setEnv({ AUTH_JWT_PUBLIC_KEY: JSON.stringify({ ...(await exportJWK(publicKey)), alg: 'ES256' }) });
    expect((await authenticateSession(token, undefined)).userId).toBe('u1');
  });
});
