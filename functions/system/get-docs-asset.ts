import { routes } from '#functions/system/routes.ts';
import { NotFoundError } from '#shared/errors.ts';
import { endpoint } from '#shared/http/endpoint.ts';
import { DOCS_ASSETS, isDocsAsset } from '#shared/system/docs.ts';
import { docsAssetText } from '#shared/system/docs-assets.ts';

// The page asks for `?v=<version>` (docs.ts), so a day of caching never outlives a deployment.
export const handler = endpoint(routes.docsAsset, async ({ params }) => {
  if (!isDocsAsset(params.name)) throw new NotFoundError(`The reference page has no asset ${params.name}`);
  return {
    status: 200,
    headers: { 'Cache-Control': 'public, max-age=86400' },
    raw: { contentType: DOCS_ASSETS[params.name].contentType, text: await docsAssetText(params.name) },
  };
});
