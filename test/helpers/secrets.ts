import { newKeyring } from '#shared/crypto.ts';
import { type SecretSource, setSecretSource } from '#shared/secrets.ts';

/** An in-memory secret source holding a fresh data-key keyring; returns the map to add secrets to. */
export function useMemorySecrets(initial: Record<string, string> = {}): Map<string, string> {
  const prefix = process.env.SECRETS_PREFIX ?? 'pronaflow-integrations/';
  const store = new Map<string, string>([[`${prefix}keys`, JSON.stringify(newKeyring('k1'))]]);
  for (const [k, v] of Object.entries(initial)) store.set(`${prefix}${k}`, v);
  const source: SecretSource = { get: async (name) => store.get(name) };
  setSecretSource(source);
  return store;
}
