/**
 * The OpenAPI document served by `GET /openapi.json`.
 *
 * Deployed, it is generated at synth from the registry and shipped as a file in a Lambda layer of
 * the System stack ({@link OPENAPI_DOCUMENT_FILE}); the function's bundle holds no route row and
 * no schema, so its asset never changes when a feature's rows do (only the layer does). The
 * bundle learns this from an esbuild `define` ({@link openApiDefine}), which also drops the other
 * branch. Elsewhere (local runtime, tests) the document is built from the registry on first use.
 */
import { readFileSync } from 'node:fs';

/** Where the document is in a deployed function: a layer's files are extracted under /opt. */
export const OPENAPI_DOCUMENT_FILE = '/opt/openapi.json';

/** esbuild `define` entries of a function that reads the shipped document. */
export const openApiDefine: Record<string, string> = {
  'process.env.OPENAPI_DOCUMENT_SHIPPED': JSON.stringify('true'),
};

export type OpenApiDocument = Record<string, unknown> & { info: Record<string, unknown> };

/**
 * The document: the shipped file when deployed, else generated from the registry. One conditional
 * expression with the imports inside it: with the define, the bundler folds it while parsing and
 * never even resolves the registry (a helper function would be dropped, but its imports parsed).
 */
export function loadOpenApiDocument(): Promise<OpenApiDocument> {
  return process.env.OPENAPI_DOCUMENT_SHIPPED === 'true'
    ? Promise.resolve(JSON.parse(readFileSync(OPENAPI_DOCUMENT_FILE, 'utf8')) as OpenApiDocument)
    : Promise.all([import('#functions/features.ts'), import('#shared/http/openapi.ts')]).then(
        ([{ routeList }, { buildOpenApi }]) => buildOpenApi(routeList) as OpenApiDocument,
      );
}
