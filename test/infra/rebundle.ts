/**
 * Rebuilds Lambda bundles in-process with exactly the stack's esbuild settings (the options of
 * infra/constructs/bundling.ts that `ApiFunction` hands to `NodejsFunction`, and the same
 * per-function `define`), optionally with one source file's contents replaced in memory: how the
 * infra test shows which function assets a one-row edit changes without touching the tree.
 *
 * Each bundle is written (in memory) one folder below `outdir`, as `NodejsFunction` writes it one
 * folder below the cloud assembly, so that the source maps' relative `sources` are the same.
 */
import { readFileSync } from 'node:fs';
import { type BuildOptions, build, type Plugin } from 'esbuild';
import { esbuildOptions } from '#infra/constructs/bundling.ts';

export interface BundleJob {
  /** One path segment naming the bundle (e.g. the function's logical id). */
  key: string;
  /** Absolute path of the handler module. */
  entry: string;
  define?: Record<string, string>;
}

export interface Bundle {
  code: string;
  map: string;
}

/** A source file whose contents are replaced for the build (absolute path → new contents). */
export interface Override {
  file: string;
  contents: string;
}

function overridePlugin(override: Override): Plugin {
  return {
    name: 'override',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, (args) =>
        args.path === override.file ? { contents: override.contents, loader: 'ts' } : undefined,
      );
    },
  };
}

/**
 * Bundles every job: one multi-entry esbuild build per distinct `define` (entries of one build
 * are bundled separately, exactly as single builds; only parsing is shared), so 50 functions take
 * seconds instead of the minute 50 esbuild processes take.
 */
export async function bundleAll(
  jobs: readonly BundleJob[],
  outdir: string,
  override?: Override,
): Promise<Map<string, Bundle>> {
  if (override) readFileSync(override.file); // fails loudly on a wrong path
  const groups = new Map<string, BundleJob[]>();
  for (const job of jobs) {
    const key = JSON.stringify(job.define ?? {});
    groups.set(key, [...(groups.get(key) ?? []), job]);
  }
  const out = new Map<string, Bundle>();
  for (const group of groups.values()) {
    const {
      entryPoints: _e,
      outfile: _o,
      ...options
    } = esbuildOptions(group[0]!.entry, `${outdir}/unused.mjs`, group[0]!.define) as BuildOptions;
    const result = await build({
      ...options,
      entryPoints: Object.fromEntries(group.map((j) => [`${j.key}/index`, j.entry])),
      outdir,
      outExtension: { '.js': '.mjs' },
      write: false,
      plugins: override ? [overridePlugin(override)] : [],
    });
    const byPath = new Map(result.outputFiles.map((f) => [f.path, f.text]));
    for (const j of group) {
      const code = byPath.get(`${outdir}/${j.key}/index.mjs`);
      const map = byPath.get(`${outdir}/${j.key}/index.mjs.map`);
      if (code === undefined || map === undefined) throw new Error(`no bundle for ${j.key}`);
      out.set(j.key, { code, map });
    }
  }
  return out;
}
