import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The dependency direction is a lint rule (biome.json overrides of `noRestrictedImports`), so it
 * stays true: this proves the rule is active by linting probe files placed where the rule applies,
 * in a copy of the project's Biome configuration (nothing is written into the source tree).
 */
const root = mkdtempSync(join(tmpdir(), 'layering-'));
const config = JSON.parse(readFileSync(resolve('biome.json'), 'utf8'));
config.vcs = { enabled: false };
config.files = { ...config.files, includes: ['**'] };
writeFileSync(join(root, 'biome.json'), JSON.stringify(config));
const biome = resolve('node_modules/.bin/biome');

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Lint diagnostics of `noRestrictedImports` for a file at `path` holding `source`. */
function restrictedImports(path: string, source: string): string[] {
  const file = join(root, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, source);
  let out: string;
  try {
    out = execFileSync(biome, ['lint', '--reporter=json', path], {
      cwd: root,
      encoding: 'utf8',
      stdio: 'pipe',
    });
  } catch (err) {
    out = (err as { stdout: string }).stdout;
  }
  const line = out.split('\n').find((l) => l.startsWith('{')) ?? '{"diagnostics":[]}';
  const report = JSON.parse(line) as { diagnostics: { category: string; location: { path: string } }[] };
  const paths = report.diagnostics
    .filter((d) => d.category === 'lint/style/noRestrictedImports')
    .map((d) => d.location.path);
  return [...new Set(paths)];
}

const importing = (spec: string) => `import { x } from '${spec}';\nexport const y = x;\n`;

describe('layering lint rule', () => {
  it.each([
    ['shared/http/probe.ts', '#shared/tokens/access.ts'],
    ['shared/db/probe.ts', '#shared/webhooks/delivery-store.ts'],
    ['shared/auth/probe.ts', '../tokens/auth.ts'],
    ['shared/events/probe.ts', '#shared/webhooks/fanout.ts'],
    ['shared/net/probe.ts', '#shared/oauth/provider.ts'],
    ['shared/probe.ts', '#shared/plugins/schemas.ts'],
    ['shared/http/probe2.ts', '#shared/a-feature-added-later/service.ts'],
    ['shared/probe2.ts', './tokens/auth.ts'],
    ['shared/http/middleware/probe.ts', '../../webhooks/fanout.ts'],
  ])('refuses a feature import in platform code (%s imports %s)', (path, spec) => {
    expect(restrictedImports(path, importing(spec))).toEqual([path]);
  });

  it.each([
    ['shared/webhooks/probe.ts', '#functions/routes.ts'],
    ['shared/tokens/probe.ts', '#infra/local/state.ts'],
    ['shared/http/probe.ts', '../../functions/features.ts'],
  ])('refuses an import of functions/ or infra/ from shared/ (%s imports %s)', (path, spec) => {
    expect(restrictedImports(path, importing(spec))).toEqual([path]);
  });

  it.each([
    ['functions/tokens/probe.ts', '#shared/client/index.ts'],
    ['functions/probe.ts', '../shared/client/index.ts'],
    ['shared/tokens/probe.ts', '#shared/client/index.ts'],
    ['shared/webhooks/probe.ts', '../client/index.ts'],
    ['shared/http/probe3.ts', '#shared/client/schema.ts'],
  ])('refuses an import of the typed client from deployed code (%s imports %s)', (path, spec) => {
    expect(restrictedImports(path, importing(spec))).toEqual([path]);
  });

  it('holds in the source tree (npm test, and so CI, fails on a violation, not only npm run lint)', () => {
    let out: string;
    try {
      out = execFileSync(
        biome,
        ['lint', '--only=style/noRestrictedImports', '--reporter=json', 'shared', 'functions', 'infra'],
        { encoding: 'utf8', stdio: 'pipe' },
      );
    } catch (err) {
      out = (err as { stdout: string }).stdout;
    }
    const line = out.split('\n').find((l) => l.startsWith('{')) ?? '';
    const report = JSON.parse(line) as { diagnostics: { location: { path: string } }[] };
    expect(report.diagnostics.map((d) => d.location.path)).toEqual([]);
  });

  it('lets features use the platform and each other, and handlers use features', () => {
    expect(restrictedImports('shared/webhooks/ok.ts', importing('#shared/http/access.ts'))).toEqual([]);
    expect(restrictedImports('shared/http/ok.ts', importing('#shared/db/client.ts'))).toEqual([]);
    expect(restrictedImports('shared/auth/ok.ts', importing('../http/caller.ts'))).toEqual([]);
    expect(restrictedImports('shared/http/middleware/ok.ts', importing('../../db/client.ts'))).toEqual([]);
    expect(restrictedImports('shared/ok.ts', importing('./db/client.ts'))).toEqual([]);
    expect(restrictedImports('shared/webhooks/ok2.ts', importing('#shared/tokens/scopes.ts'))).toEqual([]);
    expect(restrictedImports('functions/tokens/ok.ts', importing('#shared/tokens/access.ts'))).toEqual([]);
  });
});
