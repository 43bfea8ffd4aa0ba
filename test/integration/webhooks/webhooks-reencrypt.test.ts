import { randomBytes } from 'node:crypto';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { webhooks } from '#functions/webhooks/feature.ts';
import { handler as reencryptWorker } from '#functions/workers/reencrypt-webhook-secrets.ts';
import { KEYRING_SECRET, type Keyring, sealedKeyId } from '#shared/crypto.ts';
import { db, tableName } from '#shared/db/client.ts';
import { keys } from '#shared/db/keys.ts';
import { logger } from '#shared/logger.ts';
import { sqs } from '#shared/queues.ts';
import { KEY_SETTLE_SECONDS } from '#shared/reencrypt.ts';
import { deliveryId, getDelivery } from '#shared/webhooks/delivery-store.ts';
import {
  createEndpoint,
  deleteEndpoint,
  type EndpointItem,
  findEndpoint,
  rotateSecret,
  signingSecrets,
} from '#shared/webhooks/endpoints.ts';
import { resetDlqUrl } from '#shared/webhooks/jobs.ts';
import { reencryptWebhookSecrets } from '#shared/webhooks/reencrypt.ts';
import { setEnv, useTestSqs, useTestTable } from '#test/helpers/env.ts';
import { useMemorySecrets } from '#test/helpers/secrets.ts';
import { Clock, pump, type Receiver, startReceiver } from './webhooks-harness.ts';

useTestTable();
const local = useTestSqs();
let receiver: Receiver;
let clock: Clock;
let store: Map<string, string>;
const ringName = `${process.env.SECRETS_PREFIX ?? 'pronaflow-integrations/'}${KEYRING_SECRET}`;

/** Endpoints a test created: deleted after it, so the next test's scan sees only its own. */
const created: { workspace_id: string; id: string }[] = [];
/** The key that was current when the test started (each test rotates to a new one). */
let oldKid: string;

beforeAll(async () => {
  setEnv({ ALLOW_LOOPBACK_TARGETS: 'true', WEBHOOK_MAX_RETRIES: '0' });
  store = useMemorySecrets();
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver?.close();
});
beforeEach(() => {
  resetDlqUrl();
  oldKid = ring().current;
  clock = new Clock(Math.floor(Date.now() / 1000) * 1000);
  receiver.clock = clock;
});
afterEach(async () => {
  for (const e of created.splice(0)) await deleteEndpoint(e.workspace_id, e.id).catch(() => undefined);
});

const ring = () => JSON.parse(store.get(ringName) as string) as Keyring;
/** Adds a key and makes it current, as step 1 of the rotation procedure. */
const rotateKeyring = (kid: string) => {
  const r = ring();
  r.keys[kid] = randomBytes(32).toString('base64');
  r.current = kid;
  store.set(ringName, JSON.stringify(r));
};
/** Removes a key from the keyring, as the last step of the rotation procedure. */
const retireKey = (kid: string) => {
  const r = ring();
  delete r.keys[kid];
  store.set(ringName, JSON.stringify(r));
};
const settled = (extraMs = 1000) => new Date(Date.now() + KEY_SETTLE_SECONDS * 1000 + extraMs);
const reload = async (e: { workspace_id: string; id: string }) =>
  (await findEndpoint(e.workspace_id, e.id)) as EndpointItem;

let paths = 0;
async function endpoint(workspace: string) {
  const path = `/re-${++paths}`;
  const { view, secret } = await createEndpoint(workspace, 'u1', {
    name: path,
    url: receiver.url(path),
    events: { 'task.created': true },
    retry_policy: 'NONE',
  });
  receiver.on(path, () => ({ status: 200 }), secret);
  created.push({ workspace_id: workspace, id: view.id });
  return { item: await reload({ workspace_id: workspace, id: view.id }), path, secret };
}

async function emit(workspace: string) {
  const id = `evt_${randomBytes(6).toString('hex')}`;
  const event = {
    id,
    type: 'task.created',
    workspace_id: workspace,
    occurred_at: new Date(clock.t).toISOString(),
    data: { task_id: 't1' },
  };
  await sqs().send(
    new SendMessageCommand({ QueueUrl: local.current.urls.ingest, MessageBody: JSON.stringify(event) }),
  );
  return id;
}

describe('re-encryption of webhook signing secrets after a key rotation', () => {
  it('is a scheduled worker of the webhooks feature, allowed to scan and to read the keyring', () => {
    expect(webhooks.workers.find((w) => w.id === 'reencryptWebhookSecrets')).toMatchObject({
      handler: 'workers/reencrypt-webhook-secrets',
      trigger: { schedule: 'rate(1 hour)' },
      grants: expect.arrayContaining(['table:scan', 'secrets:keys:read', 'table:write']),
    });
  });

  it('re-seals every secret under the new key; once done the old key can go and deliveries still verify with the same secrets', async () => {
    const w = `ws-${randomBytes(4).toString('hex')}`;
    const a = await endpoint(w);
    const b = await endpoint(w);
    // b is in a secret rotation: its previous secret still signs, and the receiver only knows that one.
    const rotated = await rotateSecret(w, b.item.id);
    const bBefore = await signingSecrets(await reload(b.item), new Date());
    expect(bBefore).toEqual([rotated.secret, b.secret]);
    expect(sealedKeyId(a.item.secret_sealed)).toBe(oldKid);

    rotateKeyring('k2');
    const first = await reencryptWorker({});
    expect(first).toMatchObject({ kid: 'k2', resealed: 2, skipped: 0, failed: 0, done: false });
    for (const e of [a, b]) {
      const now = await reload(e.item);
      expect(sealedKeyId(now.secret_sealed)).toBe('k2');
      if (now.previous_secret_sealed) expect(sealedKeyId(now.previous_secret_sealed)).toBe('k2');
    }
    expect((await reload(b.item)).previous_secret_sealed).toBeDefined();
    // Functions may still hold the old keyring in their cache: nothing proves the job done yet.
    expect(await reencryptWebhookSecrets()).toMatchObject({ resealed: 0, done: false });
    expect(await reencryptWebhookSecrets({ now: () => settled() })).toMatchObject({
      resealed: 0,
      done: true,
    });
    expect(await reencryptWebhookSecrets({ now: () => settled() })).toMatchObject({ passes: 0, done: true });

    retireKey(oldKid);
    expect(Object.keys(ring().keys)).not.toContain(oldKid);
    expect(await signingSecrets(await reload(a.item), new Date())).toEqual([a.secret]);
    expect(await signingSecrets(await reload(b.item), new Date())).toEqual(bBefore);
    const eventId = await emit(w);
    await pump({ local: local.current, clock });
    for (const e of [a, b]) {
      const got = receiver.received.filter((r) => r.path === e.path);
      expect(got).toHaveLength(1);
      expect(got[0]?.verified).toBe(true);
      expect(await getDelivery(deliveryId(eventId, e.item.id))).toMatchObject({ status: 'DELIVERED' });
    }
  });

  it('removes a previous secret whose overlap has ended instead of re-sealing it', async () => {
    const w = `ws-${randomBytes(4).toString('hex')}`;
    const e = await endpoint(w);
    const rotated = await rotateSecret(w, e.item.id, new Date(Date.now() - 25 * 3600 * 1000));
    rotateKeyring('k5');
    expect(await reencryptWebhookSecrets()).toMatchObject({ resealed: 1, failed: 0 });
    const now = await reload(e.item);
    expect(sealedKeyId(now.secret_sealed)).toBe('k5');
    expect(now.previous_secret_sealed).toBeUndefined();
    expect(now.previous_secret_expires_at).toBeUndefined();
    retireKey(oldKid);
    expect(await signingSecrets(now, new Date())).toEqual([rotated.secret]);
  });

  it('re-seals an endpoint a stale writer sealed with the old key after the first pass', async () => {
    const w = `ws-${randomBytes(4).toString('hex')}`;
    const e = await endpoint(w);
    rotateKeyring('k3');
    expect((await reencryptWebhookSecrets()).done).toBe(false);
    expect(sealedKeyId((await reload(e.item)).secret_sealed)).toBe('k3');
    // A function with a cached keyring writes a secret sealed with the previous key.
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.webhookEndpoint(w, e.item.id),
        UpdateExpression: 'SET secret_sealed = :s',
        ExpressionAttributeValues: { ':s': e.item.secret_sealed },
      }),
    );
    const run = await reencryptWebhookSecrets({ now: () => settled() });
    expect(run).toMatchObject({ resealed: 1, done: true });
    retireKey(oldKid);
    expect(await signingSecrets(await reload(e.item), new Date())).toEqual([e.secret]);
  });

  it('never reports done while a secret cannot be opened, logs the endpoint id and never the secret', async () => {
    const w = `ws-${randomBytes(4).toString('hex')}`;
    const e = await endpoint(w);
    rotateKeyring('k4');
    const [, , ...rest] = e.item.secret_sealed.split('.');
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.webhookEndpoint(w, e.item.id),
        UpdateExpression: 'SET secret_sealed = :s',
        ExpressionAttributeValues: { ':s': ['v1', 'k-lost', ...rest].join('.') },
      }),
    );
    logger.setLogLevel('DEBUG');
    const chunks: string[] = [];
    const spies = [process.stdout, process.stderr].map((stream) =>
      vi.spyOn(stream, 'write').mockImplementation((chunk: unknown) => {
        chunks.push(String(chunk));
        return true;
      }),
    );
    let run: Awaited<ReturnType<typeof reencryptWebhookSecrets>>;
    try {
      run = await reencryptWebhookSecrets();
    } finally {
      for (const spy of spies) spy.mockRestore();
      logger.setLogLevel('SILENT');
    }
    expect(run).toMatchObject({ done: false });
    expect(run.failed).toBeGreaterThanOrEqual(1);
    const log = chunks.join('');
    expect(log).toContain(e.item.id);
    expect(log).not.toContain(e.secret);
    // Once the endpoint is fixed (here: a new secret, the unreadable one dropped), the job completes.
    await rotateSecret(w, e.item.id).catch(() => undefined);
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.webhookEndpoint(w, e.item.id),
        UpdateExpression: 'REMOVE previous_secret_sealed, previous_secret_expires_at',
      }),
    );
    expect(await reencryptWebhookSecrets({ now: () => settled() })).toMatchObject({ done: true });
  });
});
