import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { handler as createConnection } from '#functions/oauth/create-connection.ts';
import { handler as deleteConnection } from '#functions/oauth/delete-connection.ts';
import { handler as getConnection } from '#functions/oauth/get-connection.ts';
import { handler as callback } from '#functions/oauth/oauth-callback.ts';
import { routes } from '#functions/routes.ts';
import { handler as reencryptWorker } from '#functions/workers/reencrypt-oauth-tokens.ts';
import { decrypt, KEYRING_SECRET, type Keyring } from '#shared/crypto.ts';
import { db, tableName } from '#shared/db/client.ts';
import { keys } from '#shared/db/keys.ts';
import { getConnection as loadConnection, reload, reseal } from '#shared/oauth/connections-repo.ts';
import { reencryptConnections } from '#shared/oauth/reencrypt.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { captureLogs, useOAuthEnv } from '#test/helpers/oauth-setup.ts';

const env = useOAuthEnv();
let alice: string;
let bob: string;

beforeAll(async () => {
  alice = await env.id.jwt('alice', 'ws1');
  bob = await env.id.jwt('bob', 'ws1');
});

async function connect(app = 'fake') {
  const auth = await invoke(createConnection, routes.createConnection, {
    token: alice,
    body: { oauth_app_id: app },
  });
  const back = await env.provider.authorize(auth.body.authorization_url);
  const res = await invoke(callback, routes.oauthCallback, {
    token: alice,
    body: { state: back.get('state'), code: back.get('code') },
  });
  expect(res.status).toBe(201);
  return (await loadConnection('ws1', 'alice', res.body.id))!;
}

const ownedItems = async (id: string) =>
  (
    await db().send(
      new QueryCommand({
        TableName: tableName(),
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.oauthConnectionOwned(id) },
      }),
    )
  ).Items ?? [];

describe('DELETE /oauth/connections/{id}', () => {
  it('revokes both tokens at the provider, deletes the connection and the items it owns', async () => {
    const conn = await connect();
    const access = await decrypt(conn.access_token_sealed, conn.id);
    const refresh = await decrypt(conn.refresh_token_sealed!, conn.id);
    for (let i = 0; i < 30; i++) {
      await db().send(
        new PutCommand({
          TableName: tableName(),
          Item: { pk: keys.oauthConnectionOwned(conn.id), sk: `BINDING#b${i}`, entity: 'IntegrationBinding' },
        }),
      );
    }
    const logs = captureLogs();
    let res: Awaited<ReturnType<typeof invoke>>;
    try {
      res = await invoke(deleteConnection, routes.deleteConnection, {
        token: alice,
        params: { id: conn.id },
      });
    } finally {
      logs.stop();
    }
    expect(res.status).toBe(204);
    expect(env.provider.revoked).toEqual(expect.arrayContaining([access, refresh]));
    expect(await reload(conn)).toBeUndefined();
    expect(await ownedItems(conn.id)).toEqual([]);
    expect(logs.lines()).toMatch(/"revocation":"revoked"/);
    expect(logs.lines()).not.toContain(access);
    expect(logs.lines()).not.toContain(refresh);
    const again = await invoke(getConnection, routes.getConnection, {
      token: alice,
      params: { id: conn.id },
    });
    expect(again.status).toBe(404);
  });

  it('still deletes when the provider fails to revoke, and records the failure', async () => {
    const conn = await connect();
    env.provider.failNextRevoke({ status: 503, body: '' });
    const logs = captureLogs();
    let status: number;
    try {
      status = (
        await invoke(deleteConnection, routes.deleteConnection, { token: alice, params: { id: conn.id } })
      ).status;
    } finally {
      logs.stop();
    }
    expect(status).toBe(204);
    expect(await reload(conn)).toBeUndefined();
    expect(logs.lines()).toMatch(/"revocation":"failed"/);
  });

  it('does not call the provider when the app has no revocation endpoint', async () => {
    const conn = await connect('fake-norevoke');
    const calls = env.provider.calls.revoke;
    const res = await invoke(deleteConnection, routes.deleteConnection, {
      token: alice,
      params: { id: conn.id },
    });
    expect(res.status).toBe(204);
    expect(env.provider.calls.revoke).toBe(calls);
  });

  it("answers 404 for another user's connection and leaves it in place", async () => {
    const conn = await connect();
    const calls = env.provider.calls.revoke;
    const res = await invoke(deleteConnection, routes.deleteConnection, {
      token: bob,
      params: { id: conn.id },
    });
    expect(res.status).toBe(404);
    expect(await reload(conn)).toBeDefined();
    expect(env.provider.calls.revoke).toBe(calls);
  });
});

describe('re-encryption after a key rotation', () => {
  const prefix = 'pronaflow-integrations/';
  const rotate = (kid: string) => {
    const ring = JSON.parse(env.secrets.get(`${prefix}${KEYRING_SECRET}`) as string) as Keyring;
    ring.keys[kid] = Buffer.alloc(32, kid.length).toString('base64');
    ring.current = kid;
    env.secrets.set(`${prefix}${KEYRING_SECRET}`, JSON.stringify(ring));
  };

  it('re-seals every connection under the current key, keeps the tokens and is a no-op afterwards', async () => {
    const a = await connect();
    const b = await connect();
    const plain = await decrypt(a.access_token_sealed, a.id);
    const oldKid = a.sealed_key_id;
    rotate('k2');
    // Old ciphertexts stay readable during the rotation.
    expect(await decrypt(a.access_token_sealed, a.id)).toBe(plain);

    const first = await reencryptWorker({});
    expect(first).toMatchObject({ kid: 'k2', finished: true });
    expect(first.resealed).toBeGreaterThanOrEqual(2);
    for (const c of [a, b]) {
      const now = (await reload(c))!;
      expect(now.sealed_key_id).toBe('k2');
      expect(now.access_token_sealed.split('.')[1]).toBe('k2');
      expect(now.refresh_token_sealed?.split('.')[1]).toBe('k2');
      expect(await decrypt(now.access_token_sealed, c.id)).toBe(await decrypt(c.access_token_sealed, c.id));
      expect(now.version).toBe(c.version + 1);
    }
    expect(oldKid).not.toBe('k2');
    const second = await reencryptConnections();
    expect(second).toMatchObject({ resealed: 0, finished: true });
  });

  it('does not overwrite a connection that changed since it was read', async () => {
    const conn = await connect();
    rotate('k3');
    expect(await reseal({ ...conn, version: conn.version - 1 }, { access: 'x', kid: 'k3' })).toBe(false);
    expect((await reload(conn))!.access_token_sealed).toBe(conn.access_token_sealed);
  });
});
