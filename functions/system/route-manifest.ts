/**
 * The API surface as the `$default` fallback and `GET /status` need it: method, path, tag and
 * pending of every route.
 *
 * In a Lambda bundle it is inlined at build time (esbuild `define`, set by the stacks from the
 * registry, see {@link manifestDefine}), so those functions bundle no route rows: their asset
 * changes when a route is added, removed, moved or (un)pended, not when a summary, a schema or a
 * grant of some feature changes. Elsewhere (local runtime, tests) it is computed from the registry,
 * imported lazily so that the bundler drops that branch.
 */
import type { RouteDef } from '#shared/http/route.ts';

export type ManifestRoute = Pick<RouteDef, 'method' | 'path' | 'tag'> & { pending?: string };

/** Inlined by esbuild (see {@link manifestDefine}); never defined outside a bundle. */
declare const __ROUTE_MANIFEST__: ManifestRoute[];

/** The manifest of a route list (what the stacks inline). */
export function toManifest(list: readonly RouteDef[]): ManifestRoute[] {
  return list.map((r) => ({
    method: r.method,
    path: r.path,
    tag: r.tag,
    ...(r.pending ? { pending: r.pending } : {}),
  }));
}

/**
 * esbuild `define` entries that inline `list`'s manifest into a bundle. Give them only to the
 * functions that read the manifest: a define changes the minifier's naming of the whole bundle,
 * so even an unused one would change a function's asset.
 */
export function manifestDefine(list: readonly RouteDef[]): Record<string, string> {
  return {
    'process.env.ROUTE_MANIFEST_INLINED': JSON.stringify('true'),
    __ROUTE_MANIFEST__: JSON.stringify(toManifest(list)),
  };
}

export const routeManifest: ManifestRoute[] =
  process.env.ROUTE_MANIFEST_INLINED === 'true'
    ? __ROUTE_MANIFEST__
    : toManifest((await import('#functions/features.ts')).routeList);
