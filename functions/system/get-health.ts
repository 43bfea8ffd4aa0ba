import { routes } from '#functions/system/routes.ts';
import { endpoint } from '#shared/http/endpoint.ts';
import { checkHealth } from '#shared/system/health.ts';

export const handler = endpoint(routes.health, async () => {
  const health = await checkHealth();
  return { status: health.status === 'ok' ? 200 : 503, body: health };
});
