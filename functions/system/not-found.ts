import { routeManifest } from '#functions/system/route-manifest.ts';
import { fallbackResponse } from '#shared/http/fallback.ts';
import { compileRoutes, matchRoute } from '#shared/http/router.ts';
import type { HttpEvent } from '#shared/http/types.ts';

const compiled = compileRoutes(routeManifest);

/** The API's `$default` route: unknown paths get a problem+json 404, known paths a 405. */
export const handler = async (event: HttpEvent) => {
  const match = matchRoute(compiled, event.requestContext.http.method, event.rawPath);
  return fallbackResponse(event, match.kind === 'method-not-allowed' ? match.allow : []);
};
