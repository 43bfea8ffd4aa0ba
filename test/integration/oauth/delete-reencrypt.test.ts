import { BatchWriteCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { handler as deleteConnection } from '#functions/oauth/delete-connection.ts';
import { handler as getConnection } from '#functions/oauth/get-connection.ts';
import { routes } from '#functions/routes.ts';
import { handler as reencryptWorker } from '#functions/workers/reencrypt-oauth-tokens.ts';
import { KEYRING_SECRET, type Keyring } from '#shared/crypto.ts';
import { db, tableName } from '#shared/db/client.ts';
import { keys } from '#shared/db/keys.ts';
import { openAccessToken, openRefreshToken } from '#shared/oauth/connections.ts';
import { type ConnectionItem, reload, reseal } from '#shared/oauth/connections-repo.ts';
import { KEY_SETTLE_SECONDS, reencryptConnections } from '#shared/oauth/reencrypt.ts';
import { setEnv } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { captureLogs, connectThroughFlow, useOAuthEnv } from '#test/helpers/oauth-setup.ts';

const env = useOAuthEnv();
let alice: string;
let bob: string;

beforeAll(async () => {
  setEnv({ RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '100000' });
  alice = await env.id.jwt('alice', 'ws1');
  bob = await env.id.jwt('bob', 'ws1');
});

async function connect(app = 'fake') {
  return connectThroughFlow(env, alice, 'alice', app);
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
    const access = await openAccessToken(conn);
    const refresh = (await openRefreshToken(conn)) as string;
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

  it('deletes the owned items before the connection, so a delete that stops half way can be finished', async () => {
    const conn = await connect();
    for (let i = 0; i < 3; i++) {
      await db().send(
        new PutCommand({
          TableName: tableName(),
          Item: { pk: keys.oauthConnectionOwned(conn.id), sk: `BINDING#c${i}`, entity: 'IntegrationBinding' },
        }),
      );
    }
    const client = db();
    const send = client.send.bind(client);
    const failing = vi
      .spyOn(client, 'send')
      .mockImplementation(((command: unknown, ...rest: unknown[]) =>
        command instanceof BatchWriteCommand
          ? Promise.reject(new Error('throttled'))
          : (send as (...a: unknown[]) => Promise<unknown>)(command, ...rest)) as typeof client.send);
    let first: Awaited<ReturnType<typeof invoke>>;
    try {
      first = await invoke(deleteConnection, routes.deleteConnection, {
        token: alice,
        params: { id: conn.id },
      });
    } finally {
      failing.mockRestore();
    }
    expect(first.status).toBe(500);
    // Nothing is orphaned: the connection is still there, so the user can delete it again.
    expect(await reload(conn)).toBeDefined();
    const again = await invoke(deleteConnection, routes.deleteConnection, {
      token: alice,
      params: { id: conn.id },
    });
    expect(again.status).toBe(204);
    expect(await reload(conn)).toBeUndefined();
    expect(await ownedItems(conn.id)).toEqual([]);
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
  const settled =
    (extraMs = 1000) =>
    () =>
      new Date(Date.now() + KEY_SETTLE_SECONDS * 1000 + extraMs);
  const sealedUnder = async (c: ConnectionItem) => (await reload(c))?.sealed_key_id;

  it('re-seals every connection under the current key, keeps the tokens, and reports done only after the settle time', async () => {
    const a = await connect();
    const b = await connect();
    const plain = await openAccessToken(a);
    const oldKid = a.sealed_key_id;
    rotate('k2');
    // Old ciphertexts stay readable during the rotation.
    expect(await openAccessToken(a)).toBe(plain);

    const first = await reencryptWorker({});
    expect(first).toMatchObject({ kid: 'k2', done: false, skipped: 0, failed: 0 });
    expect(first.resealed).toBeGreaterThanOrEqual(2);
    for (const c of [a, b]) {
      const now = (await reload(c))!;
      expect(now.sealed_key_id).toBe('k2');
      expect(now.access_token_sealed.split('.')[1]).toBe('k2');
      expect(now.refresh_token_sealed?.split('.')[1]).toBe('k2');
      expect(await openAccessToken(now)).toBe(await openAccessToken(c));
      expect(now.version).toBe(c.version + 1);
    }
    expect(oldKid).not.toBe('k2');
    // Functions may still hold the old keyring in their cache: nothing proves the job done yet.
    expect(await reencryptConnections()).toMatchObject({ resealed: 0, done: false });
    const verified = await reencryptConnections({ now: settled() });
    expect(verified).toMatchObject({ resealed: 0, done: true });
    expect(await reencryptConnections({ now: settled() })).toMatchObject({ passes: 0, done: true });
  });

  it('re-seals a connection a stale writer sealed with the old key after the first pass', async () => {
    const conn = await connect();
    const old = (await reload(conn))!;
    rotate('k3');
    expect((await reencryptConnections()).done).toBe(false);
    expect(await sealedUnder(conn)).toBe('k3');
    // A function with a cached keyring writes tokens sealed with the previous key.
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: { pk: conn.pk, sk: conn.sk },
        UpdateExpression: 'SET access_token_sealed = :a, refresh_token_sealed = :r, sealed_key_id = :k',
        ExpressionAttributeValues: {
          ':a': old.access_token_sealed,
          ':r': old.refresh_token_sealed,
          ':k': old.sealed_key_id,
        },
      }),
    );
    const run = await reencryptConnections({ now: settled() });
    expect(run.resealed).toBe(1);
    expect(run.done).toBe(true);
    expect(await sealedUnder(conn)).toBe('k3');
    expect(await openAccessToken((await reload(conn))!)).toBe(await openAccessToken(old));
  });

  it('never reports done while a connection cannot be re-sealed, and keeps trying it', async () => {
    const conn = await connect();
    rotate('k4');
    // Sealed with a key no longer in the keyring: cannot be opened, so cannot move to k4.
    const [, , ...rest] = conn.access_token_sealed.split('.');
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: { pk: conn.pk, sk: conn.sk },
        UpdateExpression: 'SET access_token_sealed = :a, sealed_key_id = :k',
        ExpressionAttributeValues: { ':a': ['v1', 'k-lost', ...rest].join('.'), ':k': 'k-lost' },
      }),
    );
    const first = await reencryptConnections();
    expect(first).toMatchObject({ done: false });
    expect(first.failed).toBeGreaterThanOrEqual(1);
    const afterSettle = await reencryptConnections({ now: settled() });
    expect(afterSettle.done).toBe(false);
    expect(afterSettle.failed).toBeGreaterThanOrEqual(1);
    // Once the connection is gone (or fixed), a clean pass completes the job.
    await invoke(deleteConnection, routes.deleteConnection, { token: alice, params: { id: conn.id } });
    expect((await reencryptConnections({ now: settled(60_000) })).done).toBe(true);
  });

  it('re-reads and retries a connection whose version moved between the scan and the re-seal', async () => {
    const conn = await connect();
    rotate('k6');
    const client = db();
    const send = client.send.bind(client) as (...a: unknown[]) => Promise<unknown>;
    let bumped = false;
    const spy = vi.spyOn(client, 'send').mockImplementation((async (command: unknown, ...rest: unknown[]) => {
      const input = (command as UpdateCommand).input;
      if (
        !bumped &&
        command instanceof UpdateCommand &&
        input.ConditionExpression === 'version = :v' &&
        input.Key?.sk === conn.sk
      ) {
        bumped = true; // a refresh writes just before our re-seal
        await send(
          new UpdateCommand({
            TableName: tableName(),
            Key: { pk: conn.pk, sk: conn.sk },
            UpdateExpression: 'SET version = version + :one',
            ExpressionAttributeValues: { ':one': 1 },
          }),
        );
      }
      return send(command, ...rest);
    }) as typeof client.send);
    let stats: Awaited<ReturnType<typeof reencryptConnections>>;
    try {
      stats = await reencryptConnections();
    } finally {
      spy.mockRestore();
    }
    expect(bumped).toBe(true);
    expect(stats.skipped).toBe(0);
    expect(await sealedUnder(conn)).toBe('k6');
  });

  it('does not overwrite a connection that changed since it was read', async () => {
    const conn = await connect();
    rotate('k5');
    expect(await reseal({ ...conn, version: conn.version - 1 }, { access: 'x', kid: 'k5' })).toBe(false);
    expect((await reload(conn))!.access_token_sealed).toBe(conn.access_token_sealed);
  });
});
