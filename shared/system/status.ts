import type { RouteDef } from '#shared/http/route.ts';

/** Capabilities as the route table tells them: available, partial, or not implemented yet. */
export function capabilities(list: Pick<RouteDef, 'tag' | 'pending'>[]) {
  const byTag = new Map<string, { endpoints: number; pending: number }>();
  for (const r of list) {
    const entry = byTag.get(r.tag) ?? { endpoints: 0, pending: 0 };
    entry.endpoints += 1;
    if (r.pending) entry.pending += 1;
    byTag.set(r.tag, entry);
  }
  return [...byTag.entries()].map(([name, { endpoints, pending }]) => ({
    name,
    status:
      pending === 0
        ? ('available' as const)
        : pending === endpoints
          ? ('not_implemented' as const)
          : ('partial' as const),
    endpoints,
    pending_endpoints: pending,
  }));
}
