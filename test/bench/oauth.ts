import { performance } from 'node:perf_hooks';
import { resetConfig } from '#shared/config.ts';
import { KEYRING_SECRET, newKeyring } from '#shared/crypto.ts';
import { resetCatalog } from '#shared/oauth/catalog.ts';
import { openAccessToken, sealTokens } from '#shared/oauth/connections.ts';
import type { ConnectionItem } from '#shared/oauth/connections-repo.ts';
import { exchangeCode, refreshGrant } from '#shared/oauth/provider.ts';
import { setSecretSource } from '#shared/secrets.ts';
import { fakeApp, startFakeProvider } from '#test/helpers/oauth-provider.ts';

async function measure(name: string, n: number, fn: (i: number) => Promise<unknown>) {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const pct = (p: number) =>
    (times[Math.min(times.length - 1, Math.floor(p * times.length))] ?? 0).toFixed(3);
  return { operation: name, n, p50_ms: pct(0.5), p95_ms: pct(0.95), p99_ms: pct(0.99) };
}

/**
 * OAuth hot paths without DynamoDB: sealing and opening tokens (AES-256-GCM with the keyring),
 * and a token-endpoint round trip to a fake provider on 127.0.0.1 (code exchange and refresh,
 * including schema validation of the answer). Prints a table; asserts nothing.
 */
export async function benchOAuth(): Promise<void> {
  process.env.ALLOW_LOOPBACK_TARGETS = 'true';
  resetConfig();
  resetCatalog();
  const ring = JSON.stringify(newKeyring('bench'));
  setSecretSource({ get: async (name) => (name.endsWith(KEYRING_SECRET) ? ring : undefined) });
  const provider = await startFakeProvider();
  try {
    const app = {
      ...fakeApp(provider),
      description: '',
      logo_url: null,
      scope_separator: ' ' as const,
      token_auth_method: 'client_secret_basic' as const,
      authorize_params: {},
      api_base_url: null,
      sync_adapter: null,
      pkce: false,
    };
    const creds = { client_id: provider.clientId, client_secret: provider.clientSecret };
    const token = 'gho_'.padEnd(40, 'x');
    const rows = [];
    rows.push(
      await measure('seal access + refresh token', 2000, () => sealTokens('conn_bench', token, token)),
    );
    const sealed = await sealTokens('conn_bench', token, token);
    const item = { id: 'conn_bench', ...sealed } as ConnectionItem;
    rows.push(await measure('open access token', 2000, () => openAccessToken(item)));
    const codes: string[] = [];
    for (let i = 0; i < 300; i++) {
      const u = new URL(`${provider.url}/authorize`);
      u.search = new URLSearchParams({
        client_id: provider.clientId,
        redirect_uri: 'https://app.example/cb',
        response_type: 'code',
        state: 's',
      }).toString();
      codes.push((await provider.authorize(u.toString())).get('code') as string);
    }
    rows.push(
      await measure('code exchange (loopback provider)', 300, (i) =>
        exchangeCode(app, creds, { code: codes[i] as string, redirectUri: 'https://app.example/cb' }),
      ),
    );
    let refresh = provider.issued.at(-1) as string;
    rows.push(
      await measure('refresh grant (loopback provider)', 300, async () => {
        const out = await refreshGrant(app, creds, refresh);
        refresh = out.refresh_token as string;
      }),
    );
    console.log('\nOAuth');
    console.table(rows);
  } finally {
    await provider.stop();
  }
}
