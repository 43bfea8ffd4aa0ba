/**
 * Setup file (vitest.config.ts): every handler built by `endpoint()` / `makeEndpoint()` in any
 * test of the run is wrapped so each answer's status is checked against the statuses its
 * operation declares in the OpenAPI document (`declaredStatuses`, the function the document is
 * built with). A test whose traffic meets an undeclared status fails, naming the route and the
 * status: the document cannot fall behind what a handler answers in any tested path. Each
 * problem+json answer's `type` is checked too: it must be the URI of a problem type with a page
 * (shared/http/problem-catalog.ts), so every problem a test meets dereferences.
 */
import { afterEach, vi } from 'vitest';
import { PROBLEM_TYPE_BASE } from '#shared/http/problem.ts';
import { isProblemName } from '#shared/http/problem-catalog.ts';
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

/** Problem answers whose `type` has no page (no entry in the problem catalog). */
const pageless: { route: string; type: string }[] = [];
/** Every problem `type` answered in this test file, for inspection. */
export const problemTypesAnswered = new Set<string>();

/** Checks the `type` of a problem+json answer; exported for the audit's own test. */
export function auditProblem(
  route: RouteDef,
  result: { headers?: Record<string, unknown>; body?: unknown },
): void {
  const contentType = Object.entries(result.headers ?? {}).find(
    ([k]) => k.toLowerCase() === 'content-type',
  )?.[1];
  if (typeof contentType !== 'string' || !contentType.startsWith('application/problem+json')) return;
  let type: unknown;
  try {
    type = (JSON.parse(String(result.body)) as { type?: unknown }).type;
  } catch {
    type = undefined;
  }
  const name =
    typeof type === 'string' && type.startsWith(PROBLEM_TYPE_BASE)
      ? type.slice(PROBLEM_TYPE_BASE.length)
      : '';
  problemTypesAnswered.add(String(type));
  if (!isProblemName(name)) pageless.push({ route: route.id, type: String(type) });
}

/** Takes the pageless problem answers recorded so far. */
export function drainPageless(): { route: string; type: string }[] {
  return pageless.splice(0);
}

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

type Handler = (
  event: unknown,
  context: unknown,
) => Promise<{ statusCode?: number; headers?: Record<string, unknown>; body?: unknown } | undefined>;

/** Ids of the route table's rows (ad-hoc routes of the chain's own tests are not in the document). */
let tableIds: Promise<Set<string>> | undefined;
const inTable = async (id: string) => {
  tableIds ??= import('#functions/routes.ts').then((m) => new Set(m.routeList.map((r) => r.id)));
  return (await tableIds).has(id);
};

function wrap<H extends Handler>(route: RouteDef, handler: H): H {
  const wrapped = async (event: unknown, context: unknown) => {
    const result = await handler(event, context);
    if (await inTable(route.id)) {
      audit(route, result?.statusCode);
      if (result) auditProblem(route, result);
    }
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
    makeEndpoint: (chain?: Parameters<typeof original.makeEndpoint>[0]) =>
      audited(original.makeEndpoint(chain)),
    notImplemented: (route: RouteDef, builder = endpoint) => original.notImplemented(route, builder),
  };
});

afterEach(() => {
  const noPage = drainPageless();
  if (noPage.length) {
    const lines = [...new Set(noPage.map((p) => `${p.route} answered a problem of type ${p.type}`))];
    throw new Error(
      `These problem types have no page (shared/http/problem-catalog.ts):\n${lines.join('\n')}`,
    );
  }
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
