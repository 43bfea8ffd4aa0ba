import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '#infra/local/ports.ts';

/**
 * Boots `npm start`'s program as a separate process, exactly as a developer would, and speaks
 * HTTP to it; then uses the dev:token and emit commands against it and stops it with Ctrl-C.
 */
const tsx = join('node_modules', '.bin', 'tsx');
const dir = mkdtempSync(join(tmpdir(), 'pf-e2e-'));
let child: ChildProcess;
let api: string;
let output = '';

const env = () => ({ ...process.env, LOCAL_DIR: dir, DYNAMODB_ENDPOINT: '', LOG_LEVEL: 'WARN' });
const cli = (script: string, args: string[]) =>
  execFileSync(tsx, [`infra/local/${script}.ts`, ...args], { env: env(), encoding: 'utf8' });

beforeAll(async () => {
  const port = await freePort();
  api = `http://127.0.0.1:${port}/v1/integration`;
  child = spawn(tsx, ['infra/local/start.ts'], {
    env: { ...env(), PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const res = await fetch(`${api}/health`);
      if (res.status === 200 && output.includes('Ctrl-C stops everything')) break;
    } catch {}
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`local stack did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}, 90_000);

afterAll(() => {
  if (child.exitCode === null) child.kill('SIGKILL');
});

describe('npm start (local runtime)', () => {
  it('serves health with the table component', async () => {
    const res = await fetch(`${api}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', components: [{ name: 'table', status: 'ok' }] });
  });

  it('prints the base URL and next steps', () => {
    expect(output).toContain(api);
    expect(output).toContain('dev:token');
  });

  it('serves the OpenAPI document', async () => {
    const res = await fetch(`${api}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: object };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/v1/integration/health');
  });

  it('answers unknown routes 404 and wrong methods 405, as problem+json', async () => {
    const missing = await fetch(`${api}/nothing`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toBe('application/problem+json');
    const wrong = await fetch(`${api}/health`, { method: 'DELETE' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET');
  });

  it('answers 401 with WWW-Authenticate without a session and accepts a dev:token JWT', async () => {
    const anon = await fetch(`${api}/consents`);
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const jwt = cli('dev-token', ['--user', 'u1', '--workspace', 'ws1']).trim();
    expect(jwt.split('.')).toHaveLength(3);
    const authed = await fetch(`${api}/consents`, { headers: { authorization: `Bearer ${jwt}` } });
    expect(authed.status).toBe(501);
    expect(((await authed.json()) as { capability: string }).capability).toBe('Consent & governance');
  });

  it('answers 400 problem+json for malformed JSON, naming the body', async () => {
    const jwt = cli('dev-token', ['--user', 'u1', '--workspace', 'ws1']).trim();
    const res = await fetch(`${api}/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
      body: '{"name": ',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(((await res.json()) as { errors: { path: string }[] }).errors[0]?.path).toBe('body');
  });

  it('answers 413 for an oversized body', async () => {
    const jwt = cli('dev-token', ['--user', 'u1', '--workspace', 'ws1']).trim();
    const headers = { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' };
    const big = await fetch(`${api}/consents`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ a: 'x'.repeat(300 * 1024) }),
    });
    expect(big.status).toBe(413);
  });

  it('accepts events from `npm run emit` on the ingest queue', () => {
    const id = cli('emit', ['task.created', '--workspace', 'ws1', '--data', '{"task_id":"t1"}']).trim();
    expect(id).toMatch(/^evt_/);
  });

  it('refuses dev:token without a user', () => {
    expect(() => cli('dev-token', ['--workspace', 'ws1'])).toThrow();
  });

  it('refuses a second start in the same folder while one is running', () => {
    const second = spawnSync(tsx, ['infra/local/start.ts'], {
      env: { ...env(), PORT: '0' },
      encoding: 'utf8',
    });
    expect(second.status).toBe(1);
    expect(second.stderr).toMatch(/already running/);
  });

  it('exits 1 without leaving DynamoDB Local behind when its port is taken', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const port = (blocker.address() as AddressInfo).port;
    const otherDir = mkdtempSync(join(tmpdir(), 'pf-e2e-busy-'));
    try {
      const run = spawnSync(tsx, ['infra/local/start.ts'], {
        env: { ...env(), LOCAL_DIR: otherDir, PORT: String(port) },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(/EADDRINUSE|Could not start/);
      expect(
        execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).includes(join(otherDir, 'dynamodb')),
      ).toBe(false);
    } finally {
      blocker.close();
    }
  });

  it('stops cleanly on Ctrl-C, leaving no DynamoDB Local behind', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    const java = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
    expect(java.includes(join(dir, 'dynamodb'))).toBe(false);
    expect(existsSync(join(dir, 'state.json'))).toBe(false);
  });
});
