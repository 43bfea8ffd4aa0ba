/**
 * Bundle benchmark: bundles every function (see ./bundle-functions.ts) exactly as the CDK stack
 * does (the esbuild options come from infra/constructs/bundling.ts: ESM, minified, node24,
 * `@aws-sdk/*` bundled), and compares each with a baseline bundle holding only the AWS SDK clients
 * that function uses, built with the same options. Per function it prints the minified size and the
 * cold import time (median over fresh `node` processes importing the bundle and reading its
 * `handler` export, with a deployed function's environment) next to its baseline's, and the ratios
 * against the targets: size ≤ 1.15×, import ≤ 1.3× the baseline.
 *
 * The client set of a function is read from what its bundle actually contains (esbuild metafile:
 * inputs of `@aws-sdk/client-*` and `@aws-sdk/lib-dynamodb` that put bytes into the output); its
 * grants are only cross-checked. A baseline imports those clients and constructs them inside its
 * handler, as the service's functions do on first use (shared/db/client.ts, shared/queues.ts,
 * shared/secrets.ts): the import loads and evaluates the SDK code, the handler keeps it from being
 * tree-shaken. One baseline is built per client set.
 *
 * Import times are taken in rounds: each round imports every function once, each paired with its
 * baseline (order alternating between rounds), so a load spike on this shared machine hits both
 * sides of a ratio, and each median spreads over the whole run. Each import also reports its CPU
 * time; the ratio of those (`cpu ×`) is printed beside the wall-time ratio the targets use, as it
 * barely moves when other work competes for the two cores.
 *
 * Bundles are written outside the repository so nothing can resolve from node_modules: a bundle
 * that is not self-contained fails here as it would in Lambda. The one exception is what Lambda
 * itself provides beside the asset: the Powertools layer's packages (POWERTOOLS_FROM_LAYER in
 * infra/constructs/bundling.ts), left external by the deployed bundling. So the two figures measure
 * different things, on purpose:
 * - size: the deployed asset, WITHOUT the layer's packages (what each function ships and CDK
 *   uploads; the layer is one shared, AWS-published artifact);
 * - import time: WITH the layer's packages loaded (a `node_modules` beside the bundles links to the
 *   installed Powertools packages, as `/opt/nodejs/node_modules` holds them in Lambda), with tracing
 *   on as deployed (AWS_EXECUTION_ENV set: Tracer patches http/https at init), since a cold start
 *   pays for them whatever the asset holds.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BuildOptions, build, type Metafile } from 'esbuild';
import {
  esbuildOptions,
  handlerEntry,
  POWERTOOLS_FROM_LAYER,
  PROJECT_ROOT,
} from '#infra/constructs/bundling.ts';
import type { Grant } from '#shared/http/route.ts';
import { type BenchedFunction, benchedFunctions } from './bundle-functions.ts';

export interface BundleBenchOptions {
  /** Fresh processes per bundle (rounds); the median is reported. */
  runs?: number;
  /** Also write every figure to this JSON file. */
  json?: string;
  /**
   * `layer` (default, as deployed): Logger, Metrics and Tracer from the Powertools layer, outside
   * the size and loaded unbundled at import. `bundled`: the alternative, measured the same way:
   * those packages bundled (tree-shaken, minified) into each function, in its size and its import.
   */
  powertools?: 'layer' | 'bundled';
}

/** The issue's targets: a function may be this much larger / slower to import than its baseline. */
export const SIZE_TARGET = 1.15;
export const IMPORT_TARGET = 1.3;

const DEFAULT_RUNS = 5;
/** Rounds stop early (after at least MIN_RUNS) once import timing has run this long. */
const IMPORT_BUDGET_MS = 240_000;
const MIN_RUNS = 3;

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
  POWERTOOLS_METRICS_NAMESPACE: 'PronaFlowIntegrations/bench',
  // What Lambda sets: Powertools Tracer turns itself on only where it sees it.
  AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
  AWS_LAMBDA_FUNCTION_NAME: 'bench',
  LOG_LEVEL: 'WARN',
};

/**
 * Runs in the child: imports the bundle, reads `handler`, prints the elapsed wall-clock and CPU
 * milliseconds (CPU: user + system of the process, every thread).
 */
const IMPORT_SCRIPT = `
const cpu = process.cpuUsage();
const started = performance.now();
const mod = await import(process.argv[1]);
if (typeof mod.handler !== 'function') { console.error('no handler export'); process.exit(2); }
const wall = performance.now() - started;
const used = process.cpuUsage(cpu);
process.stdout.write(JSON.stringify({ wall, cpu: (used.user + used.system) / 1000 }));
`;

// ── Metafile analysis (pure) ────────────────────────────────────────────────

/** Bytes each input puts into the bundle's JavaScript output (inputs that put none are left out). */
export function bundleInputs(metafile: Metafile): Map<string, number> {
  const js = Object.entries(metafile.outputs).find(([path]) => !path.endsWith('.map'));
  if (!js) throw new Error('metafile has no JavaScript output');
  return new Map(
    Object.entries(js[1].inputs)
      .filter(([, input]) => input.bytesInOutput > 0)
      .map(([path, input]) => [path, input.bytesInOutput]),
  );
}

/**
 * What an input counts under: its npm package (`zod`, `@aws-sdk/client-sqs`, the innermost one
 * for nested node_modules), or for a project file its folder (`shared/oauth`) or, at the top of a
 * folder, itself (`functions/routes.ts`).
 */
export function inputGroup(path: string): string {
  const at = path.lastIndexOf('node_modules/');
  if (at >= 0) {
    const [scope = '', name = ''] = path.slice(at + 'node_modules/'.length).split('/');
    return scope.startsWith('@') ? `${scope}/${name}` : scope;
  }
  const parts = path.split('/');
  return parts.length > 2 ? parts.slice(0, 2).join('/') : path;
}

/** An SDK client a baseline constructs: its package and the class exported for it. */
export interface SdkClient {
  pkg: string;
  cls: string;
}

const DOCUMENT_CLIENT: SdkClient = { pkg: '@aws-sdk/lib-dynamodb', cls: 'DynamoDBDocumentClient' };
const DYNAMODB_CLIENT: SdkClient = { pkg: '@aws-sdk/client-dynamodb', cls: 'DynamoDBClient' };
/** Client classes by package, for builds where the class cannot be read off an input's file name. */
const KNOWN_CLIENTS: Record<string, string> = {
  '@aws-sdk/client-dynamodb': 'DynamoDBClient',
  '@aws-sdk/client-sqs': 'SQSClient',
  '@aws-sdk/client-secrets-manager': 'SecretsManagerClient',
  '@aws-sdk/client-s3': 'S3Client',
};

/**
 * The SDK clients a bundle contains: every `@aws-sdk/client-*` package and `@aws-sdk/lib-dynamodb`
 * that puts bytes into it. The class is the package's `dist-es/<Name>Client.js` among the inputs.
 * Sorted by package.
 */
export function sdkClientsIn(inputs: Map<string, number>): SdkClient[] {
  const clients = new Map<string, SdkClient>();
  for (const path of inputs.keys()) {
    const pkg = inputGroup(path);
    if (pkg === DOCUMENT_CLIENT.pkg) clients.set(pkg, DOCUMENT_CLIENT);
    if (!pkg.startsWith('@aws-sdk/client-')) continue;
    const file = path.match(/\/dist-es\/([A-Za-z0-9]+Client)\.js$/)?.[1];
    if (file) clients.set(pkg, { pkg, cls: file });
    else if (!clients.has(pkg) && KNOWN_CLIENTS[pkg]) clients.set(pkg, { pkg, cls: KNOWN_CLIENTS[pkg] });
  }
  const missing = [...new Set([...inputs.keys()].map(inputGroup))].filter(
    (pkg) => pkg.startsWith('@aws-sdk/client-') && !clients.has(pkg),
  );
  if (missing.length) throw new Error(`cannot tell the client class of ${missing.join(', ')}`);
  return [...clients.values()].sort((a, b) => a.pkg.localeCompare(b.pkg));
}

/** The clients a function's grants imply (cross-check of {@link sdkClientsIn}); package names, sorted. */
export function grantedClientPackages(grants: readonly Grant[]): string[] {
  const pkgs = new Set<string>();
  for (const grant of grants) {
    if (grant.startsWith('table:')) pkgs.add(DYNAMODB_CLIENT.pkg).add(DOCUMENT_CLIENT.pkg);
    else if (grant.startsWith('queue:')) pkgs.add('@aws-sdk/client-sqs');
    else if (grant.startsWith('secrets:')) pkgs.add('@aws-sdk/client-secrets-manager');
    else if (grant.startsWith('bucket:')) pkgs.add('@aws-sdk/client-s3');
  }
  return [...pkgs].sort();
}

/**
 * Entry of a baseline bundle: imports the clients and constructs each in the handler (not at
 * import, as the service's functions create theirs on first use), so none is tree-shaken.
 */
export function baselineSource(clients: readonly SdkClient[]): string {
  const wanted = [...clients];
  if (wanted.some((c) => c.pkg === DOCUMENT_CLIENT.pkg) && !wanted.some((c) => c.pkg === DYNAMODB_CLIENT.pkg))
    wanted.push(DYNAMODB_CLIENT);
  const imports = wanted.map((c) => `import { ${c.cls} } from '${c.pkg}';`);
  const constructed = clients.map((c) =>
    c.pkg === DOCUMENT_CLIENT.pkg ? `${c.cls}.from(new ${DYNAMODB_CLIENT.cls}({}))` : `new ${c.cls}({})`,
  );
  return `${imports.join('\n')}\nexport const handler = async () => [${constructed.join(', ')}].length;\n`;
}

/** Short name of a client package in the output: `@aws-sdk/client-sqs` → `sqs`. */
function short(pkg: string): string {
  return pkg.replace('@aws-sdk/client-', '').replace('@aws-sdk/', '');
}

// ── Bundling and timing ─────────────────────────────────────────────────────

interface Bundle {
  file: string;
  kb: number;
  inputs: Map<string, number>;
}

/** Builds with the deployed options into `dir/index.mjs` (+ `.map`). `stdin` replaces the entry file. */
async function bundle(
  dir: string,
  entry: string | { contents: string; name: string },
  define?: Record<string, string>,
  external?: string[],
): Promise<Bundle> {
  const file = join(dir, 'index.mjs');
  let options: BuildOptions = esbuildOptions(typeof entry === 'string' ? entry : PROJECT_ROOT, file, define);
  if (external) options = { ...options, external };
  if (typeof entry !== 'string') {
    const { entryPoints: _, ...rest } = options;
    options = {
      ...rest,
      stdin: { contents: entry.contents, sourcefile: entry.name, resolveDir: PROJECT_ROOT, loader: 'js' },
    };
  }
  const result = await build({ ...options, metafile: true });
  return { file, kb: statSync(file).size / 1024, inputs: bundleInputs(result.metafile!) };
}

/**
 * `dir/node_modules` holding (links to) the Powertools layer's packages only, as Lambda's
 * `/opt/nodejs/node_modules` does: the bundles below `dir` import them, and nothing else resolves.
 */
function layerModules(dir: string): void {
  for (const pkg of POWERTOOLS_FROM_LAYER) {
    const at = join(dir, 'node_modules', pkg);
    mkdirSync(dirname(at), { recursive: true });
    symlinkSync(join(PROJECT_ROOT, 'node_modules', pkg), at, 'dir');
  }
}

interface Sample {
  wall: number;
  cpu: number;
}

/** One cold import in a fresh process; milliseconds. */
function coldImport(file: string): Sample {
  const out = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', IMPORT_SCRIPT, pathToFileURL(file).href],
    {
      cwd: join(file, '..'),
      env: { PATH: process.env.PATH ?? '', ...LAMBDA_ENV },
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  if (out.status !== 0)
    throw new Error((out.stderr || `exit ${out.status}`).trim().split('\n').slice(-3).join(' '));
  return JSON.parse(out.stdout) as Sample;
}

export function median(values: readonly number[]): number {
  if (!values.length) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

// ── The benchmark ───────────────────────────────────────────────────────────

interface Baseline extends Bundle {
  id: string;
  clients: SdkClient[];
  users: number;
}

interface Row {
  fn: BenchedFunction;
  bundle?: Bundle;
  clients: SdkClient[];
  baseline?: Baseline;
  importSamples: Sample[];
  baselineSamples: Sample[];
  error?: string;
}

interface Figures {
  importMs: number;
  baselineMs: number;
  sizeRatio: number;
  importRatio: number;
  /** Ratio of the CPU-time medians: what the import costs, without the waits of a busy machine. */
  cpuRatio: number;
  missesSize: boolean;
  missesImport: boolean;
}

function figures(row: Row): Figures {
  const importMs = median(row.importSamples.map((s) => s.wall));
  const baselineMs = median(row.baselineSamples.map((s) => s.wall));
  const sizeRatio = row.bundle && row.baseline ? row.bundle.kb / row.baseline.kb : Number.NaN;
  const importRatio = importMs / baselineMs;
  return {
    importMs,
    baselineMs,
    sizeRatio,
    importRatio,
    cpuRatio: median(row.importSamples.map((s) => s.cpu)) / median(row.baselineSamples.map((s) => s.cpu)),
    missesSize: sizeRatio > SIZE_TARGET,
    missesImport: importRatio > IMPORT_TARGET,
  };
}

/** The bundle's inputs that its baseline does not contain, largest first. */
function extraInputs(row: Row): [string, number][] {
  const base = row.baseline?.inputs ?? new Map<string, number>();
  return [...(row.bundle?.inputs ?? [])].filter(([path]) => !base.has(path)).sort((a, b) => b[1] - a[1]);
}

function byGroup(inputs: Iterable<[string, number]>): [string, number][] {
  const groups = new Map<string, number>();
  for (const [path, bytes] of inputs)
    groups.set(inputGroup(path), (groups.get(inputGroup(path)) ?? 0) + bytes);
  return [...groups].sort((a, b) => b[1] - a[1]);
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const fixed = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

/** Bundles every function and its baseline, times cold imports, prints the table and a summary. */
export async function benchBundles(options: BundleBenchOptions = {}): Promise<void> {
  const runs = Math.max(1, Math.floor(options.runs ?? DEFAULT_RUNS));
  const started = performance.now();
  const outRoot = mkdtempSync(join(tmpdir(), 'pronaflow-bundles-'));
  const powertoolsBundled = options.powertools === 'bundled';
  // Bundled Powertools must not resolve from a layer: none is linked then.
  if (!powertoolsBundled) layerModules(outRoot);
  const rows: Row[] = benchedFunctions().map((fn) => ({
    fn,
    clients: [],
    importSamples: [],
    baselineSamples: [],
  }));
  const baselines = new Map<string, Baseline>();
  try {
    // Bundles, then one baseline per client set.
    for (const row of rows) {
      try {
        row.bundle = await bundle(
          join(outRoot, row.fn.handler.replaceAll('/', '__')),
          handlerEntry(row.fn.handler),
          row.fn.define,
          powertoolsBundled ? [] : undefined,
        );
        row.clients = sdkClientsIn(row.bundle.inputs);
      } catch (err) {
        row.error = `bundle failed: ${(err as Error).message.split('\n')[0]}`;
        continue;
      }
      if (!row.clients.length) continue;
      const key = row.clients.map((c) => c.pkg).join(' ');
      let baseline = baselines.get(key);
      if (!baseline) {
        const id = `B${baselines.size + 1}`;
        const contents = baselineSource(row.clients);
        baseline = {
          id,
          clients: row.clients,
          users: 0,
          ...(await bundle(join(outRoot, `baseline-${id}`), { contents, name: `baseline-${id}.js` })),
        };
        baselines.set(key, baseline);
      }
      baseline.users++;
      row.baseline = baseline;
    }
    const bundledMs = performance.now() - started;
    const ok = rows.filter((r) => !r.error);
    console.log(
      `${rows.length} functions and ${baselines.size} baselines bundled in ${(bundledMs / 1000).toFixed(1)} s; timing cold imports (load average ${loadavg()[0]!.toFixed(1)})`,
    );

    // Cold imports in rounds, each function next to its baseline.
    const timingStarted = performance.now();
    let rounds = 0;
    while (rounds < runs) {
      for (const row of ok) {
        if (row.error) continue;
        const pair: [string, Sample[]][] = [[row.bundle!.file, row.importSamples]];
        if (row.baseline) pair.push([row.baseline.file, row.baselineSamples]);
        if (rounds % 2) pair.reverse();
        try {
          for (const [file, samples] of pair) samples.push(coldImport(file));
        } catch (err) {
          row.error = `import failed: ${(err as Error).message}`;
        }
      }
      rounds++;
      const elapsed = performance.now() - timingStarted;
      console.log(`  round ${rounds}/${runs}: ${(elapsed / 1000).toFixed(0)} s`);
      if (rounds >= MIN_RUNS && rounds < runs && elapsed > IMPORT_BUDGET_MS) {
        console.log(`  (time budget of ${IMPORT_BUDGET_MS / 1000} s spent: stopping after ${rounds} rounds)`);
        break;
      }
    }
    const loadAfter = loadavg()[0]!;

    printTable(rows, baselines, rounds, powertoolsBundled);
    printSummary(rows);
    console.log(
      `\nTotal ${((performance.now() - started) / 1000).toFixed(0)} s (bundling ${(bundledMs / 1000).toFixed(0)} s, ${rounds} import rounds); load average at the end ${loadAfter.toFixed(1)}.`,
    );

    if (options.json) {
      // Relative to where `npm run` was started, not to the package root npm switches to.
      const file = resolve(process.env.INIT_CWD ?? process.cwd(), options.json);
      writeJson(file, rows, baselines, rounds);
      console.log(`Figures written to ${file}`);
    }
    const failed = rows.filter((r) => r.error);
    if (failed.length)
      throw new Error(`${failed.length} function(s) failed: ${failed.map((r) => r.fn.handler).join(', ')}`);
  } finally {
    rmSync(outRoot, { recursive: true, force: true });
  }
}

function printTable(
  rows: Row[],
  baselines: Map<string, Baseline>,
  rounds: number,
  powertoolsBundled = false,
): void {
  console.log(
    `\nLambda bundles vs their SDK-client baselines (esbuild, as deployed; import = median wall time of ${rounds} fresh node processes, baseline timed alongside; targets: size ≤ ${SIZE_TARGET}×, import ≤ ${IMPORT_TARGET}×)`,
  );
  console.log(
    powertoolsBundled
      ? `  --powertools bundled (NOT as deployed): ${POWERTOOLS_FROM_LAYER.join(', ')} bundled into each function, in its size and its import; tracing on.`
      : `  size = the deployed asset, without ${POWERTOOLS_FROM_LAYER.join(', ')} (from the Powertools layer); import = with them loaded, tracing on, as at a Lambda cold start.`,
  );
  console.log(
    '  cpu × = ratio of the CPU-time medians of the same imports: steadier than wall time when the machine is busy (and what a Lambda with a fraction of a vCPU pays); flags use wall time.',
  );
  for (const b of baselines.values())
    console.log(`  ${b.id} = ${b.clients.map((c) => c.pkg).join(' + ')}: ${b.kb.toFixed(1)} KB`);
  const width = Math.max(...rows.map((r) => r.fn.handler.length), 'function'.length);
  const cols: [string, number][] = [
    ['size KB', 8],
    ['base', 4],
    ['base KB', 8],
    ['size ×', 7],
    ['import ms', 9],
    ['base ms', 8],
    ['import ×', 8],
    ['cpu ×', 5],
  ];
  console.log(`${'function'.padEnd(width)}  ${cols.map(([h, w]) => h.padStart(w)).join('  ')}  miss`);
  console.log(`${'-'.repeat(width)}  ${cols.map(([, w]) => '-'.repeat(w)).join('  ')}  ----`);
  for (const row of rows) {
    const f = figures(row);
    const cells = [
      fixed(row.bundle?.kb ?? Number.NaN),
      row.baseline?.id ?? '-',
      fixed(row.baseline?.kb ?? Number.NaN),
      fixed(f.sizeRatio, 2),
      fixed(f.importMs),
      fixed(f.baselineMs),
      fixed(f.importRatio, 2),
      fixed(f.cpuRatio, 2),
    ];
    const miss = row.error
      ? row.error
      : !row.baseline
        ? 'no SDK client: no baseline'
        : [f.missesSize ? 'SIZE' : '', f.missesImport ? 'IMPORT' : ''].filter(Boolean).join(' ');
    console.log(
      `${row.fn.handler.padEnd(width)}  ${cells.map((c, i) => c.padStart(cols[i]![1])).join('  ')}  ${miss}`,
    );
  }
}

function printSummary(rows: Row[]): void {
  const measured = rows.filter((r) => !r.error && r.baseline);
  const withFigures = measured.map((row) => ({ row, f: figures(row) }));
  const meetSize = withFigures.filter(({ f }) => !f.missesSize).length;
  const meetImport = withFigures.filter(({ f }) => !f.missesImport).length;
  const meetBoth = withFigures.filter(({ f }) => !f.missesSize && !f.missesImport).length;
  const meetCpu = withFigures.filter(({ f }) => f.cpuRatio <= IMPORT_TARGET).length;
  console.log('\nSummary');
  console.log(
    `  ${measured.length} functions with SDK clients: size ≤ ${SIZE_TARGET}× baseline: ${meetSize}; import ≤ ${IMPORT_TARGET}×: ${meetImport} (by CPU time: ${meetCpu}); both: ${meetBoth}.`,
  );
  const sizeRatios = withFigures.map(({ f }) => f.sizeRatio);
  const spread = (ratios: number[]) => {
    const finite = ratios.filter(Number.isFinite);
    return `median ${fixed(median(finite), 2)}× (range ${fixed(Math.min(...finite), 2)}–${fixed(Math.max(...finite), 2)}×)`;
  };
  if (sizeRatios.length)
    console.log(
      `  size ratio ${spread(sizeRatios)}; import ratio ${spread(withFigures.map(({ f }) => f.importRatio))}; CPU-time ratio ${spread(withFigures.map(({ f }) => f.cpuRatio))}.`,
    );
  for (const row of rows.filter((r) => !r.error && !r.baseline))
    console.log(
      `  ${row.fn.handler}: no SDK client in its bundle, so no baseline and not counted (${fixed(row.bundle!.kb)} KB, ${fixed(median(row.importSamples.map((s) => s.wall)))} ms).`,
    );
  // Cross-check with the grants: a client the bundle holds but may not call is dead weight.
  const mismatches = new Map<string, string[]>();
  for (const row of rows.filter((r) => !r.error)) {
    const inBundle = row.clients.map((c) => c.pkg);
    const granted = grantedClientPackages(row.fn.grants);
    const extra = inBundle.filter((p) => !granted.includes(p)).map(short);
    const lacking = granted.filter((p) => !inBundle.includes(p)).map(short);
    if (!extra.length && !lacking.length) continue;
    const what = [
      extra.length ? `holds ${extra.join(', ')} beyond its grants` : '',
      lacking.length ? `lacks ${lacking.join(', ')} its grants allow` : '',
    ]
      .filter(Boolean)
      .join(' and ');
    mismatches.set(what, [...(mismatches.get(what) ?? []), row.fn.handler]);
  }
  for (const [what, handlers] of mismatches)
    console.log(
      `  Bundle ${what} (baseline follows the bundle), ${handlers.length}: ${handlers.join(', ')}.`,
    );

  // What the functions carry beyond their baseline, across all of them.
  const common = new Map<string, number[]>();
  for (const row of measured)
    for (const [group, bytes] of byGroup(extraInputs(row)))
      common.set(group, [...(common.get(group) ?? []), bytes]);
  const commonTop = [...common]
    .map(([group, sizes]) => ({ group, count: sizes.length, medianBytes: median(sizes) }))
    .sort((a, b) => b.count * b.medianBytes - a.count * a.medianBytes)
    .slice(0, 10);
  if (commonTop.length) {
    console.log(`  Not in the baseline, by package/folder (functions holding it: median size there):`);
    console.log(
      `    ${commonTop.map((c) => `${c.group} ${c.count}/${measured.length}: ${kb(c.medianBytes)}`).join('; ')}`,
    );
  }

  // Worst offenders: the largest ratios of each kind.
  const worst = new Map<Row, string[]>();
  const mark = (key: 'sizeRatio' | 'cpuRatio', target: number, label: string) => {
    const ranked = withFigures.filter(({ f }) => Number.isFinite(f[key])).sort((a, b) => b.f[key] - a.f[key]);
    for (const { row, f } of ranked.slice(0, 3))
      if (f[key] > target) worst.set(row, [...(worst.get(row) ?? []), `${label} ${fixed(f[key], 2)}×`]);
  };
  mark('sizeRatio', SIZE_TARGET, 'size');
  // Ranked by CPU time: on a busy machine the largest wall-time ratios are mostly load spikes.
  mark('cpuRatio', IMPORT_TARGET, 'import cpu');
  if (worst.size) console.log('  Worst offenders (largest size ratios, largest CPU-time import ratios):');
  for (const [row, why] of worst) {
    const top = [...row.bundle!.inputs].sort((a, b) => b[1] - a[1]).slice(0, 5);
    const extra = extraInputs(row);
    const extraBytes = extra.reduce((s, [, b]) => s + b, 0);
    console.log(
      `    ${row.fn.handler} (${why.join(', ')}; ${fixed(row.bundle!.kb)} KB vs ${row.baseline!.id} ${fixed(row.baseline!.kb)} KB, ${kb(extraBytes)} from inputs the baseline lacks)`,
    );
    const base = row.baseline!.inputs;
    console.log(
      `      top inputs (* also in the baseline): ${top.map(([p, b]) => `${base.has(p) ? '*' : ''}${p} ${kb(b)}`).join('; ')}`,
    );
    console.log(
      `      not in the baseline, by package/folder: ${byGroup(extra)
        .slice(0, 6)
        .map(([g, b]) => `${g} ${kb(b)}`)
        .join('; ')}`,
    );
  }
}

function writeJson(file: string, rows: Row[], baselines: Map<string, Baseline>, rounds: number): void {
  const top = (entries: Iterable<[string, number]>, n = 10) =>
    [...entries]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([input, bytes]) => ({ input, bytes }));
  const report = {
    measuredAt: new Date().toISOString(),
    node: process.version,
    rounds,
    targets: { size: SIZE_TARGET, import: IMPORT_TARGET },
    baselines: [...baselines.values()].map((b) => ({
      id: b.id,
      clients: b.clients.map((c) => c.pkg),
      kb: b.kb,
      functions: b.users,
      source: baselineSource(b.clients),
    })),
    functions: rows.map((row) => {
      const f = figures(row);
      return {
        handler: row.fn.handler,
        kind: row.fn.kind,
        grants: row.fn.grants,
        clients: row.clients.map((c) => c.pkg),
        baseline: row.baseline?.id ?? null,
        kb: row.bundle?.kb ?? null,
        baselineKb: row.baseline?.kb ?? null,
        sizeRatio: Number.isFinite(f.sizeRatio) ? f.sizeRatio : null,
        importMs: Number.isFinite(f.importMs) ? f.importMs : null,
        baselineMs: Number.isFinite(f.baselineMs) ? f.baselineMs : null,
        importRatio: Number.isFinite(f.importRatio) ? f.importRatio : null,
        cpuRatio: Number.isFinite(f.cpuRatio) ? f.cpuRatio : null,
        meetsSize: row.baseline ? !f.missesSize : null,
        meetsImport: row.baseline ? !f.missesImport : null,
        importSamples: row.importSamples,
        baselineSamples: row.baselineSamples,
        topInputs: top(row.bundle?.inputs ?? []),
        topInputsNotInBaseline: top(extraInputs(row)),
        notInBaselineByGroup: top(byGroup(extraInputs(row))).map(({ input, bytes }) => ({
          group: input,
          bytes,
        })),
        error: row.error ?? null,
      };
    }),
  };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
}
