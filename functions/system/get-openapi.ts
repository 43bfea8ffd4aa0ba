import { routeList } from '#functions/routes.ts';
import { routes } from '#functions/system/routes.ts';
import { endpoint } from '#shared/http/endpoint.ts';
import { buildOpenApi } from '#shared/http/openapi.ts';
import { ok } from '#shared/http/reply.ts';

let doc: ReturnType<typeof buildOpenApi> | undefined;

// The document is built once per container; the server URL is the one this request came to.
export const handler = endpoint(routes.openapi, (input) => {
  doc ??= buildOpenApi(routeList);
  const url = serverUrl(input.event.headers?.host);
  return ok({ ...doc, servers: url ? [{ url }] : [] }, { 'Cache-Control': 'public, max-age=300' });
});

function serverUrl(host: string | undefined): string | undefined {
  if (!host) return undefined;
  const local = host.startsWith('127.0.0.1') || host.startsWith('localhost');
  return `${local ? 'http' : 'https'}://${host}`;
}
