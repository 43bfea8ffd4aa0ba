/**
 * The one esbuild configuration of the service. `ApiFunction` hands it to `NodejsFunction`
 * (which runs the local esbuild CLI, no Docker) and the bundle benchmark feeds the same values to
 * the esbuild JS API, so the bench measures exactly what is deployed.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type BundlingOptions, LogLevel, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { BuildOptions } from 'esbuild';

/** Repository root (where package.json with the `#shared/*` import aliases lives). */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Absolute path of a handler module, e.g. `tokens/create-token` → `<root>/functions/tokens/create-token.ts`. */
export function handlerEntry(handler: string): string {
  return fileURLToPath(new URL(`../../functions/${handler}.ts`, import.meta.url));
}

/**
 * ESM output needs a `require` for the CommonJS dependencies esbuild inlines (they call
 * `require('node:…')` at load time); Node's ESM scope has none, so the banner creates one.
 */
const CJS_REQUIRE_BANNER =
  "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

/**
 * The Powertools packages every function loads from the official Powertools for AWS Lambda
 * (TypeScript) layer (`AWSLambdaPowertoolsTypeScriptV2`, attached to every function by
 * `ApiFunction`) instead of carrying them in its bundle: Logger, Metrics and Tracer (Tracer pulls
 * `aws-xray-sdk-core`, ~200 KB minified, into whatever bundles it). They are left external, so the
 * deployed asset holds none of their bytes; they are loaded at cold start all the same, from the
 * layer (`npm run bench` times imports with them). Batch and Parameters stay bundled: the registry
 * has no release of them at the layer's version, and Parameters' Secrets provider imports the SDK
 * client, which the bundle carries (the layer ships no SDK). Locally and in tests they resolve from
 * node_modules as before.
 */
export const POWERTOOLS_FROM_LAYER = [
  '@aws-lambda-powertools/logger',
  '@aws-lambda-powertools/metrics',
  '@aws-lambda-powertools/tracer',
] as const;

/**
 * The Powertools version the layer must hold: the one installed (package-lock.json) for the
 * {@link POWERTOOLS_FROM_LAYER} packages, which must all be the same (one layer version holds one
 * release). Fails synth otherwise, so what is deployed is what the tests ran.
 */
export function powertoolsLayerVersion(): string {
  const versions = new Set(
    POWERTOOLS_FROM_LAYER.map(
      (pkg) =>
        (
          JSON.parse(readFileSync(`${PROJECT_ROOT}node_modules/${pkg}/package.json`, 'utf8')) as {
            version: string;
          }
        ).version,
    ),
  );
  if (versions.size !== 1) {
    throw new Error(
      `${POWERTOOLS_FROM_LAYER.join(', ')} come from one Powertools layer, so they must share one version; installed: ${[...versions].join(', ')}`,
    );
  }
  return [...versions][0] as string;
}

/**
 * Bundle settings shared by the CDK stack and the benchmark.
 *
 * `@aws-sdk/*` is BUNDLED, not left external: the nodejs24.x runtime ships some SDK v3 version
 * chosen by AWS and updated without notice, while the tests (aws-sdk-client-mock, Powertools'
 * SDK peer ranges) run against the version pinned in package-lock.json. Bundling deploys exactly
 * the version we test with, and a minified, tree-shaken client loads faster than the runtime's
 * unbundled SDK files (see `npm run bench` for sizes and cold import times). The only externals
 * are the Powertools packages of the layer ({@link POWERTOOLS_FROM_LAYER}).
 */
export const BUNDLE = {
  /** Must match the Lambda runtime (nodejs24.x). */
  target: 'node24',
  platform: 'node',
  format: 'esm',
  minify: true,
  /** External `.map` file next to the bundle; Lambda reads it with NODE_OPTIONS=--enable-source-maps. */
  sourcemap: true,
  /** Map files without embedded sources: stack traces only need the mappings, and the maps stay small. */
  sourcesContent: false,
  /** Prefer packages' ESM builds: better tree-shaking, no CJS interop wrappers. */
  mainFields: ['module', 'main'],
  banner: CJS_REQUIRE_BANNER,
  /** Only the Powertools layer's packages (and their subpaths) are external; @aws-sdk/* is bundled (see above). */
  external: POWERTOOLS_FROM_LAYER.flatMap((pkg) => [pkg, `${pkg}/*`]) as string[],
} as const;

/**
 * The settings as `NodejsFunction` bundling options (used by `ApiFunction`). `extraFiles` (name in
 * the bundle → absolute source path) are copied next to the bundle, e.g. an OAuth apps file;
 * `define` are build-time constants (esbuild `--define`), e.g. the route manifest.
 */
export function cdkBundling(
  extraFiles: Record<string, string> = {},
  define?: Record<string, string>,
): BundlingOptions {
  const copies = Object.entries(extraFiles);
  return {
    ...(copies.length
      ? {
          commandHooks: {
            beforeBundling: () => [],
            beforeInstall: () => [],
            afterBundling: (_input: string, output: string) =>
              copies.map(([name, source]) => `cp "${source}" "${output}/${name}"`),
          },
        }
      : {}),
    target: BUNDLE.target,
    format: OutputFormat.ESM,
    minify: BUNDLE.minify,
    sourceMap: BUNDLE.sourcemap,
    sourcesContent: BUNDLE.sourcesContent,
    mainFields: [...BUNDLE.mainFields],
    banner: BUNDLE.banner,
    bundleAwsSDK: true,
    externalModules: [...BUNDLE.external],
    logLevel: LogLevel.WARNING,
    ...(define && Object.keys(define).length ? { define } : {}),
  };
}

/**
 * The same settings for the esbuild JS API (used by the bundle benchmark). Mirrors the CLI
 * arguments `NodejsFunction` derives from {@link cdkBundling}: `--bundle --platform=node
 * --target=… --format=esm --minify --sourcemap --sources-content=false --main-fields=… --banner:js=…`
 * (and `--define:…` for the few functions given build-time constants: pass the same `define`).
 */
export function esbuildOptions(
  entry: string,
  outfile: string,
  define?: Record<string, string>,
): BuildOptions {
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: BUNDLE.platform,
    target: BUNDLE.target,
    format: BUNDLE.format,
    minify: BUNDLE.minify,
    sourcemap: BUNDLE.sourcemap,
    sourcesContent: BUNDLE.sourcesContent,
    mainFields: [...BUNDLE.mainFields],
    banner: { js: BUNDLE.banner },
    external: [...BUNDLE.external],
    absWorkingDir: PROJECT_ROOT,
    logLevel: 'warning',
    ...(define && Object.keys(define).length ? { define } : {}),
  };
}
