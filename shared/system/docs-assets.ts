/**
 * The bytes of the API reference page's assets (catalogue: docs.ts). Only the asset function
 * imports this module, so only its bundle holds Swagger UI (about 1.9 MB); no other function does.
 *
 * In a Lambda bundle each vendored file is inlined by esbuild (an import with `type: 'text'`),
 * so the function reads no file and needs no layer. Run from the TypeScript sources (local
 * runtime, tests: Node has no text imports), the same files are read from node_modules. The
 * branch is chosen by what runs: this module's URL ends in `.ts` only when run from the sources.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { DOCS_ASSETS, type DocsAssetName } from './docs.ts';

type VendorFile = 'swagger-ui-bundle.js' | 'swagger-ui.css';

// One literal specifier per file: esbuild inlines only imports it can see.
const inlined: Record<VendorFile, () => Promise<{ default: string }>> = {
  'swagger-ui-bundle.js': () => import('swagger-ui-dist/swagger-ui-bundle.js', { with: { type: 'text' } }),
  'swagger-ui.css': () => import('swagger-ui-dist/swagger-ui.css', { with: { type: 'text' } }),
};

const fromSources = import.meta.url.endsWith('.ts');

async function vendorText(file: VendorFile): Promise<string> {
  if (fromSources) {
    return readFileSync(createRequire(import.meta.url).resolve(`swagger-ui-dist/${file}`), 'utf8');
  }
  return (await inlined[file]()).default;
}

const cache = new Map<DocsAssetName, Promise<string>>();

/** An asset's text, read once per container. */
export function docsAssetText(name: DocsAssetName): Promise<string> {
  let text = cache.get(name);
  if (!text) {
    const { source } = DOCS_ASSETS[name];
    text = 'text' in source ? Promise.resolve(source.text) : vendorText(source.vendor);
    cache.set(name, text);
  }
  return text;
}
