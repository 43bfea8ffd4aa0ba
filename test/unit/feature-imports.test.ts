/**
 * Asset isolation rests on imports: a handler that imports the whole surface (functions/routes.ts,
 * features.ts) or another feature's rows bundles them, and then any edit there changes its Lambda
 * asset. So every module of a feature's folder imports, inside functions/, only modules of its own
 * folder (never a `feature.ts`, which is for the registry) and the handler builder all features
 * share. Worker modules import no feature at all. The infra test checks the same on the bundles.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { features } from '#functions/features.ts';

const FUNCTIONS = fileURLToPath(new URL('../../functions/', import.meta.url));
/** Modules at the top of functions/ that every feature's handlers may use: they hold no route rows. */
const SHARED_BUILDERS = new Set(['endpoint.ts']);
/**
 * The modules through which the surface-wide handlers of `system` (the `$default` fallback, the
 * status, the OpenAPI document) read the registry: lazily, in a branch that a deployed bundle
 * drops (the stacks hand those functions the registry at build time, see their comments).
 */
const SURFACE_WIDE = new Set(['system/route-manifest.ts', 'system/openapi-document.ts']);

/** Import specifiers of a module: static, side-effect and dynamic imports, and re-exports. */
function importsOf(source: string): string[] {
  return [
    ...source.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'/g),
    ...source.matchAll(/(?:^|\n)\s*import\s+'([^']+)'/g),
    ...source.matchAll(/import\(\s*'([^']+)'\s*\)/g),
  ].map((m) => m[1]!);
}

/** The module an import names, relative to functions/ (`tokens/routes.ts`), or undefined outside it. */
function insideFunctions(fromFile: string, spec: string): string | undefined {
  const abs = spec.startsWith('#functions/')
    ? join(FUNCTIONS, spec.slice('#functions/'.length))
    : spec.startsWith('.')
      ? resolve(dirname(fromFile), spec)
      : undefined;
  if (!abs) return undefined;
  const rel = relative(FUNCTIONS, abs).replaceAll('\\', '/');
  return rel.startsWith('..') ? undefined : rel;
}

const folders = readdirSync(FUNCTIONS, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name);

describe('feature module imports', () => {
  it('finds a folder per registered feature, and no folder of an unregistered one', () => {
    // functions/workers holds the worker handlers of several features (each row names its file).
    expect(folders.sort()).toEqual([...features.map((f) => f.id), 'workers'].sort());
  });

  for (const folder of folders) {
    it(`keeps functions/${folder} on its own modules`, () => {
      for (const name of readdirSync(join(FUNCTIONS, folder)).filter((n) => n.endsWith('.ts'))) {
        const rel = `${folder}/${name}`;
        if (name === 'feature.ts' || SURFACE_WIDE.has(rel)) continue;
        const file = join(FUNCTIONS, rel);
        for (const spec of importsOf(readFileSync(file, 'utf8'))) {
          const target = insideFunctions(file, spec);
          if (target === undefined || SHARED_BUILDERS.has(target)) continue;
          // Workers belong to no folder of rows: they import no feature module.
          expect(folder === 'workers' ? undefined : target, `${rel} imports ${spec}`).toMatch(
            new RegExp(`^${folder}/(?!feature\\.ts$)[^/]+$`),
          );
        }
      }
    });
  }

  it('recognises every import form (the guard cannot be dodged by syntax)', () => {
    const src = [
      "import { a } from '#functions/routes.ts';",
      "import type { B } from '../webhooks/routes.ts';",
      "import '#functions/features.ts';",
      "export { c } from './feature.ts';",
      "const d = await import('#functions/oauth/routes.ts');",
    ].join('\n');
    expect(importsOf(src)).toEqual(
      expect.arrayContaining([
        '#functions/routes.ts',
        '../webhooks/routes.ts',
        '#functions/features.ts',
        './feature.ts',
        '#functions/oauth/routes.ts',
      ]),
    );
    const from = join(FUNCTIONS, 'tokens', 'x.ts');
    expect(insideFunctions(from, '../webhooks/routes.ts')).toBe('webhooks/routes.ts');
    expect(insideFunctions(from, '#shared/http/route.ts')).toBeUndefined();
  });
});
