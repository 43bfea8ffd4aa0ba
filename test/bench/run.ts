/**
 * `npm run bench [-- name… [--runs N] [--json FILE] [--powertools layer|bundled]]`: runs the
 * benchmarks and prints their figures (`--powertools bundled`: the bundles bench measures the
 * alternative to the Powertools layer). They assert nothing: this machine is shared and noisy, so speed and memory are measured
 * here, never in tests. `--runs` is read by the bundles bench (fresh processes per bundle);
 * `--json FILE` by the bundles, webhooks and bindings benches (a JSON file with every figure).
 */
import { parseArgs } from 'node:util';

process.env.LOG_LEVEL ??= 'SILENT';

const { values: flags, positionals: wanted } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: { runs: { type: 'string' }, json: { type: 'string' }, powertools: { type: 'string' } },
});
const runs = flags.runs === undefined ? undefined : Number(flags.runs);
if (flags.powertools !== undefined && !['layer', 'bundled'].includes(flags.powertools)) {
  console.error(`--powertools takes layer or bundled, not ${flags.powertools}`);
  process.exit(2);
}
if (runs !== undefined && !(Number.isInteger(runs) && runs > 0)) {
  console.error(`--runs takes a positive integer, not ${flags.runs}`);
  process.exit(2);
}

// Imported lazily, after LOG_LEVEL is set, so the service's logger stays quiet.
const benches: Record<string, () => Promise<void>> = {
  bundles: async () =>
    (await import('./bundles.ts')).benchBundles({
      runs,
      json: flags.json,
      powertools: flags.powertools === 'bundled' ? 'bundled' : 'layer',
    }),
  tokens: async () => (await import('./tokens.ts')).benchTokens(),
  webhooks: async () => (await import('./webhooks.ts')).benchWebhooks({ json: flags.json }),
  oauth: async () => (await import('./oauth.ts')).benchOAuth(),
  bindings: async () => (await import('./bindings.ts')).benchBindings({ json: flags.json }),
  cost: async () => (await import('./cost.ts')).benchCost(),
};

const unknown = wanted.filter((n) => !(n in benches));
if (unknown.length) {
  console.error(`unknown bench: ${unknown.join(', ')}; choose from ${Object.keys(benches).join(', ')}`);
  process.exit(2);
}
for (const name of wanted.length ? wanted : Object.keys(benches)) {
  console.log(`\n## ${name}\n`);
  const started = performance.now();
  await benches[name]?.();
  console.log(`(${name}: ${((performance.now() - started) / 1000).toFixed(1)} s)`);
}
process.exit(0);
