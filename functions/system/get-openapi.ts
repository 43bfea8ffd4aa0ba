import { loadOpenApiDocument, type OpenApiDocument } from '#functions/system/openapi-document.ts';
import { routes } from '#functions/system/routes.ts';
import { config } from '#shared/config.ts';
import { endpoint } from '#shared/http/endpoint.ts';
import { ok } from '#shared/http/reply.ts';

let doc: OpenApiDocument | undefined;

// The document is read once per container; the version is this function's SERVICE_VERSION and
// the server URL the one this request came to.
export const handler = endpoint(routes.openapi, async (input) => {
  doc ??= await loadOpenApiDocument();
  const url = serverUrl(input.event.headers?.host);
  return ok(
    { ...doc, info: { ...doc.info, version: config().SERVICE_VERSION }, servers: url ? [{ url }] : [] },
    { 'Cache-Control': 'public, max-age=300' },
  );
});

function serverUrl(host: string | undefined): string | undefined {
  if (!host) return undefined;
  const local = host.startsWith('127.0.0.1') || host.startsWith('localhost');
  return `${local ? 'http' : 'https'}://${host}`;
}
