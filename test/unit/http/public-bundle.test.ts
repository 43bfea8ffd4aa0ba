import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { routeList } from '#functions/features.ts';
import { esbuildOptions, handlerEntry } from '#infra/constructs/bundling.ts';

/** Inputs no public function may bundle: credential verification and the tokens feature. */
const CREDENTIAL_CODE = [
  /^node_modules\/jose\//,
  /^shared\/auth\//,
  /^shared\/tokens\/(?!scopes\.ts$|schemas\.ts$)/, // the scope catalog is documentation, not credential code
  /^shared\/http\/access-chain\.ts$/,
  /^shared\/http\/middleware\/(authenticate|rate-limit|usage)\.ts$/,
];

const publicHandlers = [...new Set(routeList.filter((r) => r.auth === 'public').map((r) => r.handler))];

describe('public functions', () => {
  it('are the health, status, documentation and redirect routes', () => {
    expect(publicHandlers).toContain('system/get-health');
    expect(publicHandlers.length).toBeGreaterThanOrEqual(3);
  });

  it.each(publicHandlers)(
    '%s bundles no credential code',
    async (handler) => {
      const result = await build({
        ...esbuildOptions(handlerEntry(handler), 'out.mjs'),
        write: false,
        metafile: true,
        sourcemap: false,
      });
      const inputs = Object.keys(result.metafile.inputs);
      expect(inputs.some((i) => i.startsWith('shared/http/endpoint.ts'))).toBe(true);
      expect(inputs.filter((i) => CREDENTIAL_CODE.some((re) => re.test(i)))).toEqual([]);
    },
    60_000,
  );
});
