import { fullPath, type RouteDef } from '#shared/http/route.ts';

/** What matching needs of a route: a full route row, or a manifest entry (method and path). */
export type RouteKey = Pick<RouteDef, 'method' | 'path'>;

export interface CompiledRoute<R extends RouteKey = RouteDef> {
  def: R;
  regex: RegExp;
  names: string[];
  /** Lower sorts first: static segments win over `{param}` ones at the same position. */
  rank: string;
}

/** Compiles the route table into matchers, most specific first (as API Gateway matches). */
export function compileRoutes<R extends RouteKey = RouteDef>(list: R[]): CompiledRoute<R>[] {
  return list
    .map((def) => {
      const segments = fullPath(def).split('/').filter(Boolean);
      const names: string[] = [];
      const pattern = segments
        .map((seg) => {
          const m = /^\{(\w+)\}$/.exec(seg);
          if (!m?.[1]) return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          names.push(m[1]);
          return '([^/]+)';
        })
        .join('/');
      const rank = segments.map((s) => (s.startsWith('{') ? '1' : '0')).join('');
      return { def, regex: new RegExp(`^/${pattern}/?$`), names, rank };
    })
    .sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0));
}

export type Match<R extends RouteKey = RouteDef> =
  | { kind: 'found'; route: CompiledRoute<R>; params: Record<string, string> }
  | { kind: 'method-not-allowed'; allow: string[] }
  | { kind: 'not-found' };

/** Finds the route for a method and path; 405 when the path exists with other methods. */
export function matchRoute<R extends RouteKey = RouteDef>(
  compiled: CompiledRoute<R>[],
  method: string,
  path: string,
): Match<R> {
  const allow = new Set<string>();
  for (const route of compiled) {
    const m = route.regex.exec(path);
    if (!m) continue;
    if (route.def.method !== method) {
      allow.add(route.def.method);
      continue;
    }
    const params: Record<string, string> = {};
    route.names.forEach((name, i) => {
      params[name] = safeDecode(m[i + 1] ?? '');
    });
    return { kind: 'found', route, params };
  }
  return allow.size ? { kind: 'method-not-allowed', allow: [...allow] } : { kind: 'not-found' };
}

/** Decodes a path segment; a malformed escape is kept as sent (input validation then refuses it). */
function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
