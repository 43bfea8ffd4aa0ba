import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const script = join(import.meta.dirname, '..', '..', '..', 'infra', 'local', 'dev-secret.ts');
const tsx = join(import.meta.dirname, '..', '..', '..', 'node_modules', '.bin', 'tsx');

async function devSecret(dir: string, ...args: string[]) {
  return run(tsx, [script, ...args], { env: { ...process.env, LOCAL_DIR: dir, SECRETS_PREFIX: 'pf/' } });
}

describe('npm run dev:secret', () => {
  it('stores the secret beside the others by replacing the file in one rename, leaving no temp file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dev-secret-'));
    const file = join(dir, 'secrets.json');
    writeFileSync(file, JSON.stringify({ 'pf/keys': '{"current":"k1","keys":{}}' }));
    const before = statSync(file).ino;
    const out = await devSecret(dir, 'oauth/demo', '{"client_id":"demo","client_secret":"s3cret"}');
    expect(out.stdout).toBe('stored oauth/demo\n');
    expect(out.stdout).not.toContain('s3cret');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
      'pf/keys': '{"current":"k1","keys":{}}',
      'pf/oauth/demo': '{"client_id":"demo","client_secret":"s3cret"}',
    });
    // A new inode: the running local runtime reads either the old file or the new one, never half.
    expect(statSync(file).ino).not.toBe(before);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['secrets.json']);
  });

  it('refuses an oauth/<app> value that is not client credentials JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dev-secret-'));
    await expect(devSecret(dir, 'oauth/demo', 'not-json')).rejects.toMatchObject({ code: 2 });
    expect(readdirSync(dir)).toEqual([]);
  });
});
