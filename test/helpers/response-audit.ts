/**
 * Setup file (vitest.config.ts): every handler built by `endpoint()` / `makeEndpoint()` in any
 * test of the run is wrapped so each answer's status is checked against the statuses its
 * operation declares in the OpenAPI document (`declaredStatuses`, the function the document is
 * built with). A test whose traffic meets an undeclared status fails, naming the route and the
 * status: the document cannot fall behind what a handler answers in any tested path.
 */
import { afterEach, vi } from 'vitest';
import type { RouteDef } from '#shared/http/route.ts';
import { declaredStatuses } from '#shared/http/statuses.ts';

/** An answer the document does not declare, as the audit recorded it. */
export interface UndeclaredAnswer {
  route: string;
  method: string;
  path: string;
  status: number;
  declared: number[];
}

const found: UndeclaredAnswer[] = [];
/** Every (route id, status) answered in this test file, for inspection. */
export const answered = new Map<string, Set<number>>();

/** Checks one answer; exported for the audit's own test. */
export function audit(route: RouteDef, status: number | undefined): void {
  const code = status ?? 200;
  const seen = answered.get(route.id) ?? new Set<number>();
  answered.set(route.id, seen.add(code));
  const declared = declaredStatuses(route);
  if (!declared.includes(code)) {
    found.push({ route: route.id, method: route.method, path: route.path, status: code, declared });
  }
}

/** Takes the undeclared answers recorded so far (the audit's own test drains what it provoked). */
export function drainUndeclared(): UndeclaredAnswer[] {
  return found.splice(0);
}

type Handler = (event: unknown, context: unknown) => Promise<{ statusCode?: number } | undefined>;

/** Ids of the route table's rows (ad-hoc routes of the chain's own tests are not in the document). */
let tableIds: Promise<Set<string>> | undefined;
const inTable = async (id: string) => {
  tableIds ??= import('#functions/routes.ts').then((m) => new Set(m.routeList.map((r) => r.id)));
  return (await tableIds).has(id);
};

function wrap<H extends Handler>(route: RouteDef, handler: H): H {
  const wrapped = async (event: unknown, context: unknown) => {
    const result = await handler(event, context);
    if (await inTable(route.id)) audit(route, result?.statusCode);
    return result;
  };
  return Object.assign(wrapped, handler) as unknown as H;
}

vi.mock('#shared/http/endpoint.ts', async (importOriginal) => {
  const original = await importOriginal<typeof import('#shared/http/endpoint.ts')>();
  const audited =
    (
      builder: import('#shared/http/endpoint.ts').EndpointBuilder,
    ): import('#shared/http/endpoint.ts').EndpointBuilder =>
    (route, fn) =>
      wrap(route as RouteDef, builder(route, fn) as unknown as Handler) as unknown as ReturnType<
        import('#shared/http/endpoint.ts').EndpointBuilder
      >;
  const endpoint = audited(original.endpoint);
  return {
    ...original,
    endpoint,
    makeEndpoint: (access?: Parameters<typeof original.makeEndpoint>[0]) =>
      audited(original.makeEndpoint(access)),
    notImplemented: (route: RouteDef, builder = endpoint) => original.notImplemented(route, builder),
  };
});

afterEach(() => {
  const undeclared = drainUndeclared();
  if (!undeclared.length) return;
  const lines = [
    ...new Set(
      undeclared.map(
        (u) => `${u.method} ${u.path} (${u.route}) answered ${u.status}, declared ${u.declared.join(', ')}`,
      ),
    ),
  ];
  throw new Error(`The OpenAPI document does not declare these answers:\n${lines.join('\n')}`);
});
