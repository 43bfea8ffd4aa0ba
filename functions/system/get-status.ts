import { routeManifest } from '#functions/system/route-manifest.ts';
import { routes } from '#functions/system/routes.ts';
import { config } from '#shared/config.ts';
import { endpoint } from '#shared/http/endpoint.ts';
import { ok } from '#shared/http/reply.ts';
import { capabilities } from '#shared/system/status.ts';

export const handler = endpoint(routes.status, () =>
  ok({
    service: 'pronaflow-integrations',
    version: config().SERVICE_VERSION,
    time: new Date().toISOString(),
    capabilities: capabilities(routeManifest),
  }),
);
