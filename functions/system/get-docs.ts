import { routes } from '#functions/system/routes.ts';
import { endpoint } from '#shared/http/endpoint.ts';
import { fullPath } from '#shared/http/route.ts';
import { DOCS_PAGE_CSP, docsPage } from '#shared/system/docs.ts';

const page = docsPage(fullPath(routes.openapi));

// Cached briefly: the page names its assets by version, so a deployment shows within minutes.
export const handler = endpoint(routes.docs, () => ({
  status: 200,
  headers: { 'Content-Security-Policy': DOCS_PAGE_CSP, 'Cache-Control': 'public, max-age=300' },
  raw: { contentType: 'text/html; charset=utf-8', text: page },
}));
