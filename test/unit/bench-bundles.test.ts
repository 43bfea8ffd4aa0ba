/**
 * The bundle benchmark (test/bench/bundles.ts) must not skip a function silently: its enumeration
 * is checked against the tables and against the handler modules on disk. No bundling here; the
 * benchmark's figures are printed by `npm run bench -- bundles`, never asserted.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { routeList, workers } from '#functions/features.ts';
import { handlerEntry, PROJECT_ROOT } from '#infra/constructs/bundling.ts';
import { FALLBACK_HANDLER } from '#infra/root-stack.ts';
import { benchedFunctions } from '#test/bench/bundle-functions.ts';
import { baselineSource, grantedClientPackages, inputGroup, sdkClientsIn } from '#test/bench/bundles.ts';

/** Handler modules under functions/: every .ts file exporting `handler`, as `tokens/create-token`. */
function handlerModulesOnDisk(): string[] {
  const root = join(PROJECT_ROOT, 'functions');
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (
        entry.name.endsWith('.ts') &&
        /export\s+(const|let|async\s+function|function)\s+handler\b/.test(readFileSync(path, 'utf8'))
      )
        found.push(relative(root, path).replace(/\.ts$/, '').replaceAll('\\', '/'));
    }
  };
  walk(root);
  return found.sort();
}

describe('bundle bench enumeration', () => {
  const benched = benchedFunctions().map((f) => f.handler);

  it('lists every route handler, the $default handler and every worker handler', () => {
    const tables = [...routeList.map((r) => r.handler), FALLBACK_HANDLER, ...workers.map((w) => w.handler)];
    expect(benched).toEqual(expect.arrayContaining(tables));
    expect(new Set(benched).size).toBe(benched.length);
  });

  it('lists every module under functions/ that exports a handler, and only those', () => {
    expect([...benched].sort()).toEqual(handlerModulesOnDisk());
    for (const handler of benched) expect(existsSync(handlerEntry(handler)), handler).toBe(true);
  });

  it('carries the grants the stack gives each function', () => {
    const byHandler = new Map(benchedFunctions().map((f) => [f.handler, f.grants]));
    expect(byHandler.get(FALLBACK_HANDLER)).toEqual([]);
    for (const w of workers) expect(byHandler.get(w.handler)).toEqual(expect.arrayContaining(w.grants));
  });
});

describe('bundle bench baselines', () => {
  const inputs = new Map([
    ['node_modules/@aws-sdk/client-dynamodb/dist-es/DynamoDBClient.js', 900],
    ['node_modules/@aws-sdk/client-dynamodb/dist-es/commands/GetItemCommand.js', 80],
    ['node_modules/@aws-sdk/lib-dynamodb/dist-es/DynamoDBDocumentClient.js', 300],
    ['node_modules/@aws-sdk/client-sqs/dist-es/SQSClient.js', 700],
    ['node_modules/@aws-sdk/nested-clients/dist-es/submodules/sts/STSClient.js', 500],
    ['node_modules/@smithy/core/dist-es/index.js', 100],
    ['shared/db/client.ts', 50],
  ]);

  it('reads the clients from the bundle inputs under @aws-sdk/client-* and lib-dynamodb', () => {
    expect(sdkClientsIn(inputs)).toEqual([
      { pkg: '@aws-sdk/client-dynamodb', cls: 'DynamoDBClient' },
      { pkg: '@aws-sdk/client-sqs', cls: 'SQSClient' },
      { pkg: '@aws-sdk/lib-dynamodb', cls: 'DynamoDBDocumentClient' },
    ]);
  });

  it('groups inputs by innermost package, project files by folder', () => {
    expect(inputGroup('node_modules/a/node_modules/@aws-sdk/core/dist-es/x.js')).toBe('@aws-sdk/core');
    expect(inputGroup('node_modules/zod/v4/core/schemas.js')).toBe('zod');
    expect(inputGroup('shared/oauth/catalog.ts')).toBe('shared/oauth');
    expect(inputGroup('functions/routes.ts')).toBe('functions/routes.ts');
  });

  it('constructs every client in the baseline handler, a document client over a DynamoDB client', () => {
    const source = baselineSource(sdkClientsIn(inputs));
    expect(source).toContain("import { SQSClient } from '@aws-sdk/client-sqs';");
    expect(source).toContain('new SQSClient({})');
    expect(source).toContain('DynamoDBDocumentClient.from(new DynamoDBClient({}))');
    expect(source).toMatch(/export const handler = async \(\) =>/);
  });

  it('maps grants to the clients they imply', () => {
    expect(grantedClientPackages(['table:read', 'queue:usage:send', 'secrets:keys:read'])).toEqual([
      '@aws-sdk/client-dynamodb',
      '@aws-sdk/client-secrets-manager',
      '@aws-sdk/client-sqs',
      '@aws-sdk/lib-dynamodb',
    ]);
    expect(grantedClientPackages([])).toEqual([]);
  });
});

describe('bench build-time constants', () => {
  it('builds the surface-wide functions with the defines the stacks give them, and no other', async () => {
    const { benchedFunctions } = await import('#test/bench/bundle-functions.ts');
    const withDefine = benchedFunctions()
      .filter((f) => f.define)
      .map((f) => f.handler)
      .sort();
    expect(withDefine).toEqual(['system/get-openapi', 'system/get-status', 'system/not-found']);
  });
});
