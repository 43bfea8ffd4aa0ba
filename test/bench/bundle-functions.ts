/**
 * Which Lambda functions the bundle benchmark measures: every function the CDK stack builds from
 * `functions/` (one per route, the `$default` route's, one per worker). Kept apart from the
 * benchmark so that one small function knows where the tables live (the feature registry, which
 * the stack reads too), and so a unit test can check it without bundling anything.
 */
import { features, routeList, workers } from '#functions/features.ts';
import { manifestDefine } from '#functions/system/route-manifest.ts';
import { defineFor } from '#infra/feature-stack.ts';
import { FALLBACK_HANDLER } from '#infra/root-stack.ts';
import { type Grant, routeGrants } from '#shared/http/route.ts';

export interface BenchedFunction {
  /** Handler module under `functions/`, without extension, e.g. `tokens/create-token`. */
  handler: string;
  kind: 'route' | 'fallback' | 'worker';
  /** What the stack grants the function (for a route: {@link routeGrants}, middleware included). */
  grants: Grant[];
  /** The build-time constants the stack bundles it with (the surface-wide views only), as deployed. */
  define?: Record<string, string>;
}

/**
 * The functions to bundle, one per handler module (two rows sharing a handler would share one
 * bundle), in registry order. The only code of the benchmark that reads the route and worker
 * tables: adapt it when they move.
 */
export function benchedFunctions(): BenchedFunction[] {
  const surface = { routeManifestDefine: manifestDefine(routeList) };
  const defineOf = (handler: string) => {
    const feature = features.find(
      (f) =>
        Object.values(f.routes).some((r) => r.handler === handler) ||
        f.workers?.some((w) => w.handler === handler),
    );
    return feature ? defineFor(feature, handler, surface) : undefined;
  };
  const all: BenchedFunction[] = [
    ...routeList.map((r) => ({
      handler: r.handler,
      kind: 'route' as const,
      grants: routeGrants(r),
      define: defineOf(r.handler),
    })),
    // The $default function is built with the route manifest, as the root stack builds it.
    { handler: FALLBACK_HANDLER, kind: 'fallback', grants: [], define: surface.routeManifestDefine },
    ...workers.map((w) => ({
      handler: w.handler,
      kind: 'worker' as const,
      grants: [...w.grants],
      define: defineOf(w.handler),
    })),
  ];
  const byHandler = new Map<string, BenchedFunction>();
  for (const fn of all) {
    const seen = byHandler.get(fn.handler);
    if (seen) seen.grants = [...new Set([...seen.grants, ...fn.grants])].sort();
    else byHandler.set(fn.handler, fn);
  }
  return [...byHandler.values()];
}
