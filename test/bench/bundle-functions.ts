/**
 * Which Lambda functions the bundle benchmark measures: every function the CDK stack builds from
 * `functions/` (one per route, the `$default` route's, one per worker). Kept apart from the
 * benchmark so that one small function knows where the tables live (the feature registry, which
 * the stack reads too), and so a unit test can check it without bundling anything.
 */
import { routeList, workers } from '#functions/features.ts';
import { FALLBACK_HANDLER } from '#infra/root-stack.ts';
import { type Grant, routeGrants } from '#shared/http/route.ts';

export interface BenchedFunction {
  /** Handler module under `functions/`, without extension, e.g. `tokens/create-token`. */
  handler: string;
  kind: 'route' | 'fallback' | 'worker';
  /** What the stack grants the function (for a route: {@link routeGrants}, middleware included). */
  grants: Grant[];
}

/**
 * The functions to bundle, one per handler module (two rows sharing a handler would share one
 * bundle), in registry order. The only code of the benchmark that reads the route and worker
 * tables: adapt it when they move.
 */
export function benchedFunctions(): BenchedFunction[] {
  const all: BenchedFunction[] = [
    ...routeList.map((r) => ({ handler: r.handler, kind: 'route' as const, grants: routeGrants(r) })),
    { handler: FALLBACK_HANDLER, kind: 'fallback', grants: [] },
    ...workers.map((w) => ({ handler: w.handler, kind: 'worker' as const, grants: [...w.grants] })),
  ];
  const byHandler = new Map<string, BenchedFunction>();
  for (const fn of all) {
    const seen = byHandler.get(fn.handler);
    if (seen) seen.grants = [...new Set([...seen.grants, ...fn.grants])].sort();
    else byHandler.set(fn.handler, fn);
  }
  return [...byHandler.values()];
}
