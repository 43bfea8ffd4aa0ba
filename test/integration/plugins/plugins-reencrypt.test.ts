import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { plugins } from '#functions/plugins/feature.ts';
import { handler as reencryptWorker } from '#functions/plugins/reencrypt-plugin-secrets.ts';
import { handler as configH } from '#functions/plugins/update-plugin-config.ts';
import { routes } from '#functions/routes.ts';
import { KEYRING_SECRET, type Keyring, sealedKeyId } from '#shared/crypto.ts';
import { fullConfiguration, install } from '#shared/plugins/installations.ts';
import { reencryptPluginSecrets } from '#shared/plugins/reencrypt.ts';
import { seedCatalog } from '#shared/plugins/seed.ts';
import { findInstallation } from '#shared/plugins/store.ts';
import { KEY_SETTLE_SECONDS } from '#shared/reencrypt.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { useMemorySecrets } from '#test/helpers/secrets.ts';
import { usePluginsHarness } from './plugins-harness.ts';

const h = usePluginsHarness();
let store: Map<string, string>;
const ringName = `${process.env.SECRETS_PREFIX ?? 'pronaflow-integrations/'}${KEYRING_SECRET}`;
beforeAll(async () => {
  store = useMemorySecrets();
  await seedCatalog();
});
const ring = () => JSON.parse(store.get(ringName) as string) as Keyring;
const settled = () => new Date(Date.now() + KEY_SETTLE_SECONDS * 1000 + 1000);

describe("re-encryption of installations' secret settings after a key rotation", () => {
  it('is a scheduled worker of the plugins feature, allowed to scan and to read the keyring', () => {
    expect(plugins.workers.find((w) => w.id === 'reencryptPluginSecrets')).toMatchObject({
      trigger: { schedule: 'rate(1 hour)' },
      grants: expect.arrayContaining(['table:scan', 'secrets:keys:read', 'table:write']),
    });
  });

  it('re-seals every installation under the new key; then the old key can go and the secrets still open', async () => {
    const oldKid = ring().current;
    const secrets: Record<string, string> = {};
    for (const ws of ['ws-r1', 'ws-r2']) {
      const caller = {
        kind: 'session' as const,
        userId: 'a',
        workspaceId: ws,
        role: 'admin' as const,
        workspaces: [],
      };
      secrets[ws] = `key-${randomBytes(8).toString('hex')}`;
      await install(caller, 'time-tracker', {
        configuration: { reporting_api_key: secrets[ws] },
        accepted_permissions: ['tasks:read', 'tasks:write'],
      });
      expect(sealedKeyId((await findInstallation(ws, 'time-tracker'))!.secrets_sealed!)).toBe(oldKid);
    }
    const r = ring();
    r.keys.k2 = randomBytes(32).toString('base64');
    r.current = 'k2';
    store.set(ringName, JSON.stringify(r));

    expect(await reencryptWorker({})).toMatchObject({ kid: 'k2', resealed: 2, failed: 0, done: false });
    expect(await reencryptPluginSecrets({ now: settled })).toMatchObject({ resealed: 0, done: true });
    const retired = ring();
    delete retired.keys[oldKid];
    store.set(ringName, JSON.stringify(retired));
    for (const ws of ['ws-r1', 'ws-r2']) {
      const item = (await findInstallation(ws, 'time-tracker'))!;
      expect(sealedKeyId(item.secrets_sealed!)).toBe('k2');
      expect((await fullConfiguration(item)).reporting_api_key).toBe(secrets[ws]);
    }
    // An admin's edit afterwards still works (the job kept the revision).
    const ws1 = await h.id.jwt('a', [{ id: 'ws-r1', role: 'admin' }]);
    const res = await invoke(configH, routes.updatePluginConfig, {
      token: ws1,
      params: { id: 'time-tracker' },
      body: { configuration: { rounding_minutes: 5 } },
    });
    expect(res.status).toBe(200);
  });
});
