import { routeManifest } from '#functions/system/route-manifest.ts';
import { routes } from '#functions/system/routes.ts';
import { config } from '#shared/config.ts';
import { endpoint } from '#shared/http/endpoint.ts';
import { ok } from '#shared/http/reply.ts';
import { logger } from '#shared/logger.ts';
import { readStatusLines } from '#shared/status-lines.ts';
import { capabilities } from '#shared/system/status.ts';

/** Lines of background work (one Query); the status still answers when the table does not. */
async function background() {
  try {
    return await readStatusLines();
  } catch (err) {
    logger.error('status lines could not be read', { error: err as Error });
    return undefined;
  }
}

export const handler = endpoint(routes.status, async () => {
  const lines = await background();
  return ok({
    service: 'pronaflow-integrations',
    version: config().SERVICE_VERSION,
    time: new Date().toISOString(),
    capabilities: capabilities(routeManifest),
    ...(lines ? { background: lines } : {}),
  });
});
