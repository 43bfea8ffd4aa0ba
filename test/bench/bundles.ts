/**
 * Bundle benchmark: bundles every handler of the route and worker tables (and the `$default`
 * route's) exactly as the CDK stack
 * does (the esbuild options come from infra/constructs/bundling.ts), then prints, per handler, the
 * minified size and the cold import time: the median over fresh `node` processes of importing the
 * bundle and reading its `handler` export, with the environment a deployed function has.
 *
 * Bundles are written outside the repository so nothing can resolve from node_modules: a bundle
 * that is not self-contained fails here as it would in Lambda.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { routeList } from '#functions/routes.ts';
import { workers } from '#functions/workers.ts';
import { esbuildOptions, handlerEntry } from '#infra/constructs/bundling.ts';
import { FALLBACK_HANDLER } from '#infra/integration-stack.ts';

/** Fresh processes per handler; the median is reported. */
const IMPORT_RUNS = 5;
/** Import timing stops (sizes are still printed) once the benchmark has run this long. */
const IMPORT_BUDGET_MS = 180_000;

/** What a deployed function sees (see IntegrationStack); values only need to be valid. */
const LAMBDA_ENV: Record<string, string> = {
  NODE_ENV: 'production',
  NODE_OPTIONS: '--enable-source-maps',
  AWS_REGION: 'eu-west-1',
  TABLE_NAME: 'pronaflow-integrations-bench',
  SECRETS_PREFIX: 'pronaflow-integrations/',
  AUTH_JWKS_URL: 'https://identity.pronaflow.local/.well-known/jwks.json',
  AUTH_JWT_ISSUER: 'https://identity.pronaflow.local',
  AUTH_JWT_AUDIENCE: 'pronaflow-integrations',
  POWERTOOLS_SERVICE_NAME: 'pronaflow-integrations',
  LOG_LEVEL: 'WARN',
};

/** Runs in the child: imports the bundle, reads `handler`, prints the elapsed milliseconds. */
const IMPORT_SCRIPT = `
const started = performance.now();
const mod = await import(process.argv[1]);
if (typeof mod.handler !== 'function') { console.error('no handler export'); process.exit(2); }
process.stdout.write(String(performance.now() - started));
`;

interface Row {
  handler: string;
  kb: number;
  gzipKb: number;
  importMs?: number;
  error?: string;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function coldImport(file: string, cwd: string): number {
  const runs: number[] = [];
  for (let i = 0; i < IMPORT_RUNS; i++) {
    const out = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', IMPORT_SCRIPT, pathToFileURL(file).href],
      { cwd, env: { PATH: process.env.PATH ?? '', ...LAMBDA_ENV }, encoding: 'utf8', timeout: 30_000 },
    );
    if (out.status !== 0)
      throw new Error((out.stderr || `exit ${out.status}`).trim().split('\n').slice(-3).join(' '));
    runs.push(Number(out.stdout));
  }
  return median(runs);
}

/** Bundles every handler like ApiFunction, prints sizes and cold import times. */
export async function benchBundles(): Promise<void> {
  const started = performance.now();
  const handlers = [
    ...new Set([...routeList.map((r) => r.handler), FALLBACK_HANDLER, ...workers.map((w) => w.handler)]),
  ];
  const outRoot = mkdtempSync(join(tmpdir(), 'pronaflow-bundles-'));
  const rows: Row[] = [];
  try {
    for (const handler of handlers) {
      const dir = join(outRoot, handler.replaceAll('/', '__'));
      const outfile = join(dir, 'index.mjs');
      try {
        await build(esbuildOptions(handlerEntry(handler), outfile));
        rows.push({
          handler,
          kb: statSync(outfile).size / 1024,
          gzipKb: gzipSync(readFileSync(outfile)).length / 1024,
        });
      } catch (err) {
        rows.push({
          handler,
          kb: Number.NaN,
          gzipKb: Number.NaN,
          error: `bundle failed: ${(err as Error).message}`,
        });
      }
    }
    const bundledMs = performance.now() - started;

    let skipped = 0;
    for (const row of rows) {
      if (row.error) continue;
      if (performance.now() - started > IMPORT_BUDGET_MS) {
        skipped++;
        continue;
      }
      const dir = join(outRoot, row.handler.replaceAll('/', '__'));
      try {
        row.importMs = coldImport(join(dir, 'index.mjs'), dir);
      } catch (err) {
        row.error = `import failed: ${(err as Error).message}`;
      }
    }

    const width = Math.max(...rows.map((r) => r.handler.length), 'handler'.length);
    const lines = [
      `${'handler'.padEnd(width)}  ${'min KB'.padStart(8)}  ${'gzip KB'.padStart(8)}  ${'import ms'.padStart(10)}`,
      `${'-'.repeat(width)}  ${'-'.repeat(8)}  ${'-'.repeat(8)}  ${'-'.repeat(10)}`,
      ...rows.map(
        (r) =>
          `${r.handler.padEnd(width)}  ${r.kb.toFixed(1).padStart(8)}  ${r.gzipKb.toFixed(1).padStart(8)}  ${(
            r.importMs === undefined ? '-' : r.importMs.toFixed(1)
          ).padStart(10)}${r.error ? `  ${r.error}` : ''}`,
      ),
    ];
    const timed = rows.filter((r) => r.importMs !== undefined).map((r) => r.importMs!);
    console.log(
      `\nLambda bundles (esbuild, as deployed; import = median of ${IMPORT_RUNS} fresh node processes)`,
    );
    console.log(lines.join('\n'));
    console.log(
      `${rows.length} bundles in ${(bundledMs / 1000).toFixed(1)} s; total ${(rows.reduce((s, r) => s + r.kb, 0) / 1024).toFixed(1)} MB minified` +
        (timed.length
          ? `; import median of medians ${median(timed).toFixed(1)} ms, max ${Math.max(...timed).toFixed(1)} ms`
          : '') +
        (skipped ? `; import timing skipped for ${skipped} handlers (time budget)` : ''),
    );
    const failed = rows.filter((r) => r.error);
    if (failed.length)
      throw new Error(`${failed.length} bundle(s) failed: ${failed.map((r) => r.handler).join(', ')}`);
  } finally {
    rmSync(outRoot, { recursive: true, force: true });
  }
}
