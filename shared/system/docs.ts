/**
 * The API reference page (`GET /docs`): Swagger UI (the `swagger-ui-dist` package) rendering the
 * service's own OpenAPI document. Everything the page loads comes from this service: the page,
 * Swagger UI's script and stylesheet and a small start script (`GET /docs/assets/{name}`, see
 * docs-assets.ts), then the document (`GET /openapi.json`). No CDN, no web font, no inline script:
 * the page's Content-Security-Policy ({@link DOCS_PAGE_CSP}) allows scripts from 'self' only and
 * no `eval`, and requests to 'self' only.
 *
 * This module holds no asset's content (the page's function bundles none of them); only the
 * asset function reads them.
 */
import { createHash } from 'node:crypto';
import { API_PREFIX } from '#shared/http/route.ts';

/** The Swagger UI version the assets come from (a unit test checks it is the installed one). */
export const SWAGGER_UI_VERSION = '5.35.0';

/**
 * Starts Swagger UI on the page's `#swagger-ui` element, with the document URL the page names
 * (`data-spec-url`). No validator badge (it would call validator.swagger.io), no OAuth redirect
 * page; the base layout has no top bar, so the page never loads another document.
 */
export const DOCS_INIT_SCRIPT = `'use strict';
window.addEventListener('DOMContentLoaded', function () {
  var root = document.getElementById('swagger-ui');
  window.ui = SwaggerUIBundle({
    url: root.getAttribute('data-spec-url'),
    domNode: root,
    layout: 'BaseLayout',
    presets: [SwaggerUIBundle.presets.apis],
    validatorUrl: null,
    deepLinking: true,
    docExpansion: 'list',
    defaultModelsExpandDepth: 0,
    displayOperationId: true,
    displayRequestDuration: true,
    tryItOutEnabled: false,
  });
});
`;

/** An asset of the page: where its bytes are (a file of swagger-ui-dist, or text of this module). */
export interface DocsAsset {
  contentType: string;
  source: { vendor: 'swagger-ui-bundle.js' | 'swagger-ui.css' } | { text: string };
}

/** The page's assets by the name they are served under (`/docs/assets/<name>`). */
export const DOCS_ASSETS = {
  'swagger-ui.css': { contentType: 'text/css; charset=utf-8', source: { vendor: 'swagger-ui.css' } },
  'swagger-ui-bundle.js': {
    contentType: 'text/javascript; charset=utf-8',
    source: { vendor: 'swagger-ui-bundle.js' },
  },
  'docs-init.js': { contentType: 'text/javascript; charset=utf-8', source: { text: DOCS_INIT_SCRIPT } },
} as const satisfies Record<string, DocsAsset>;

export type DocsAssetName = keyof typeof DOCS_ASSETS;

export const isDocsAsset = (name: string): name is DocsAssetName => Object.hasOwn(DOCS_ASSETS, name);

/**
 * What the page's asset URLs carry as `?v=`: it changes with the Swagger UI version and the start
 * script, so a browser never keeps a stale asset past a deployment that changed it.
 */
export const DOCS_ASSETS_VERSION = createHash('sha256')
  .update(`${SWAGGER_UI_VERSION}\n${DOCS_INIT_SCRIPT}`)
  .digest('hex')
  .slice(0, 12);

/**
 * The page's policy: nothing by default; scripts and stylesheets from this origin only (no inline
 * script, no `eval`); images from this origin or `data:` (Swagger UI's stylesheet draws its icons
 * as data: SVGs); requests (the document, "Try it out") to this origin only; no frame, form
 * target, plugin or base URL. Swagger UI sets element styles through the DOM (allowed by CSP), and
 * ships no font, so `style-src` needs no 'unsafe-inline' and `font-src` stays 'none'.
 */
export const DOCS_PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const assetUrl = (name: DocsAssetName) => `${API_PREFIX}/docs/assets/${name}?v=${DOCS_ASSETS_VERSION}`;

/** The page: static HTML naming its assets and the document (`specPath`, a path of this API). */
export function docsPage(specPath: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>PronaFlow Integrations API reference</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${assetUrl('swagger-ui.css')}">
</head>
<body>
<div id="swagger-ui" data-spec-url="${specPath}"></div>
<noscript>This page renders the API's OpenAPI document with JavaScript; the document itself is at <a href="${specPath}">${specPath}</a>.</noscript>
<script src="${assetUrl('swagger-ui-bundle.js')}"></script>
<script src="${assetUrl('docs-init.js')}"></script>
</body>
</html>
`;
}
