import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
let runtimePid: number;
let api: string;
let output = '';

const env = (localDir = dir) => ({
  ...process.env,
  LOCAL_DIR: localDir,
  DYNAMODB_ENDPOINT: '',
  LOG_LEVEL: 'WARN',
});
const cli = (script: string, args: string[]) =>
  execFileSync(tsx, [`infra/local/${script}.ts`, ...args], { env: env(), encoding: 'utf8' });

interface Runtime {
  /** The `tsx` launcher. */
  child: ChildProcess;
  /** The runtime itself (tsx runs it in a child process): the pid its state file names. */
  pid: number;
  api: string;
  output: () => string;
}

/** Starts `npm start`'s program on `localDir` and waits until it serves and has written its state. */
async function startRuntime(localDir: string, extraEnv: Record<string, string> = {}): Promise<Runtime> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}/v1/integration`;
  let out = '';
  const proc = spawn(tsx, ['infra/local/start.ts'], {
    env: { ...env(localDir), PORT: String(port), ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout?.on('data', (d) => {
    out += d;
  });
  proc.stderr?.on('data', (d) => {
    out += d;
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const res = await fetch(`${base}/health`);
      if (res.status === 200 && out.includes('Ctrl-C stops everything')) break;
    } catch {}
    if (Date.now() > deadline || proc.exitCode !== null) {
      if (proc.exitCode === null) proc.kill('SIGINT');
      throw new Error(`local stack did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const { pid } = JSON.parse(readFileSync(join(localDir, 'state.json'), 'utf8')) as { pid: number };
  return { child: proc, pid, api: base, output: () => out };
}

/** Processes whose command line contains `text`, by pid (ps sees every user's processes). */
function processesWith(text: string): { pid: number; args: string }[] {
  return execFileSync('ps', ['-ww', '-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => !!m && m[2]?.includes(text) === true)
    .map((m) => ({ pid: Number(m[1]), args: m[2] ?? '' }));
}

/** The DynamoDB Local JVMs serving a data folder. */
const jvmsOn = (dataDir: string) =>
  processesWith(`-dbPath ${dataDir} `).filter((p) => p.args.includes('DynamoDBLocal.jar'));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

beforeAll(async () => {
  const run = await startRuntime(dir);
  child = run.child;
  runtimePid = run.pid;
  api = run.api;
  output = run.output();
}, 90_000);

afterAll(async () => {
  // The launcher forwards signals to the runtime; a SIGKILL would not reach it.
  if (child.exitCode === null) {
    child.kill('SIGINT');
    await until(() => child.exitCode !== null, 15_000);
  }
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

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
    const anon = await fetch(`${api}/bindings`);
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const jwt = cli('dev-token', ['--user', 'u1', '--workspace', 'ws1']).trim();
    expect(jwt.split('.')).toHaveLength(3);
    const authed = await fetch(`${api}/bindings`, { headers: { authorization: `Bearer ${jwt}` } });
    expect(authed.status).toBe(200);
    expect(await authed.json()).toEqual({ data: [], next_cursor: null });
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
      rmSync(otherDir, { recursive: true, force: true });
    }
  });

  it('stops cleanly on Ctrl-C, leaving no DynamoDB Local behind', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // The runtime's own Ctrl-C handler (signalled directly: the tsx launcher's relay confirms the
    // signal with its child on a short timer, and on a busy machine it then kills the child and
    // exits 130 by itself, which is tsx's behaviour, not the runtime's).
    process.kill(runtimePid, 'SIGINT');
    expect(await exited).toBe(0);
    const java = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
    expect(java.includes(join(dir, 'dynamodb'))).toBe(false);
    expect(existsSync(join(dir, 'state.json'))).toBe(false);
  });
});

describe('npm start killed hard (SIGKILL)', () => {
  const hardDir = mkdtempSync(join(tmpdir(), 'pf-e2e-kill-'));
  const dataDir = join(hardDir, 'dynamodb');
  const launchers: ChildProcess[] = [];
  const runtimes: number[] = [];
  const watchdogsOf = (jvm: number) => processesWith(`dynamodb-local-watchdog ${jvm}`);
  const start = async () => {
    const run = await startRuntime(hardDir);
    launchers.push(run.child);
    runtimes.push(run.pid);
    return run;
  };

  afterAll(async () => {
    // Only what this block started: its runtimes, and JVMs/watchdogs of its own temp folder.
    for (const pid of runtimes) if (alive(pid)) process.kill(pid, 'SIGKILL');
    for (const jvm of jvmsOn(dataDir)) {
      for (const dog of watchdogsOf(jvm.pid)) process.kill(dog.pid, 'SIGKILL');
      process.kill(-jvm.pid, 'SIGKILL');
    }
    for (const l of launchers) if (l.exitCode === null) l.kill('SIGKILL');
    rmSync(hardDir, { recursive: true, force: true });
  });

  it('takes its DynamoDB Local down with it', async () => {
    const run = await start();
    const [jvm, ...more] = jvmsOn(dataDir);
    expect(jvm).toBeDefined();
    expect(more).toEqual([]);
    process.kill(run.pid, 'SIGKILL'); // no exit hook, no Ctrl-C handler runs
    expect(await until(() => !alive(jvm!.pid), 15_000)).toBe(true);
    expect(jvmsOn(dataDir)).toEqual([]);
  }, 90_000);

  it('reaps a DynamoDB Local that outlived it on the next start: one JVM per data folder', async () => {
    const first = await start();
    const [stale] = jvmsOn(dataDir);
    expect(stale).toBeDefined();
    // Everything but the JVM dies at once (kill -9 of the runtime and its watchdog).
    for (const dog of watchdogsOf(stale!.pid)) process.kill(dog.pid, 'SIGKILL');
    process.kill(first.pid, 'SIGKILL');
    await until(() => first.child.exitCode !== null, 10_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(alive(stale!.pid)).toBe(true); // orphaned

    const next = await start();
    expect(alive(stale!.pid)).toBe(false);
    const jvms = jvmsOn(dataDir);
    expect(jvms).toHaveLength(1);
    expect(jvms[0]?.pid).not.toBe(stale!.pid);
    expect((await fetch(`${next.api}/health`)).status).toBe(200);

    const exited = new Promise<number | null>((resolve) => next.child.once('exit', (code) => resolve(code)));
    process.kill(next.pid, 'SIGINT'); // the runtime's handler itself (see "stops cleanly on Ctrl-C")
    expect(await exited).toBe(0);
    expect(jvmsOn(dataDir)).toEqual([]);
    expect(await until(() => watchdogsOf(jvms[0]!.pid).length === 0, 5_000)).toBe(true);
  }, 120_000);
});
