import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The README's runnable walk-throughs: each ```bash fence right after a
 * `<!-- walkthrough: <name> -->` comment. A block is split into terminals at its
 * `# terminal <n>` comment lines (alone, or followed by `:` or ` (`); every terminal but the last runs in the background (a fake
 * provider, `npm start`), the last one in the foreground. A block without terminals runs against
 * a plain `npm start` (its heading says "against `npm start`").
 */
export interface Walkthrough {
  name: string;
  terminals: { label: string; script: string }[];
}

export function readmeWalkthroughs(readme: string): Walkthrough[] {
  const found: Walkthrough[] = [];
  const re = /<!-- walkthrough: ([\w-]+) -->\n```bash\n([\s\S]*?)\n```/g;
  for (const m of readme.matchAll(re)) {
    const name = m[1] as string;
    const body = m[2] as string;
    const terminals: { label: string; script: string }[] = [];
    let current: { label: string; lines: string[] } = { label: 'before the first terminal', lines: [] };
    const sections = [current];
    for (const line of body.split('\n')) {
      const t = /^# (terminal \d+)(?=$|:| \()/.exec(line);
      if (t) {
        current = { label: t[1] as string, lines: [] };
        sections.push(current);
      }
      current.lines.push(line);
    }
    const preamble = sections.length > 1 ? (sections.shift()?.lines ?? []) : [];
    if (sections.length === 1) terminals.push({ label: 'npm start', script: 'npm start' });
    for (const s of sections) terminals.push({ label: s.label, script: s.lines.join('\n') });
    // Comments before the first terminal (e.g. "from scratch: …") go with it.
    if (preamble.length && terminals[0])
      terminals[0].script = `${preamble.join('\n')}\n${terminals[0].script}`;
    found.push({ name, terminals });
  }
  return found;
}

/**
 * A new user's checkout: a temporary folder holding links to the repository's files (not its
 * `.local`), so `.local` in the README's commands is this folder's own. LOCAL_DIR points there
 * too (the local runtime resolves its default from its real path, the repository's).
 */
export function freshCheckout(repo: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'pf-readme-'));
  for (const entry of readdirSync(repo)) {
    if (entry === '.local' || entry === '.git') continue;
    symlinkSync(join(repo, entry), join(dir, entry));
  }
  mkdirSync(join(dir, '.local'));
  return dir;
}

/** A fresh terminal's environment: nothing of the test process but the basics. */
export function terminalEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'USER', 'SHELL', 'LANG', 'TMPDIR', 'JAVA_HOME', 'TERM'];
  const env: NodeJS.ProcessEnv = {};
  for (const k of keep) if (process.env[k] !== undefined) env[k] = process.env[k];
  return { ...env, ...extra };
}

export interface Terminal {
  label: string;
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Runs a terminal's commands with `bash` under `set -euo pipefail`, in its own process group. */
export function runTerminal(label: string, script: string, cwd: string, env: NodeJS.ProcessEnv): Terminal {
  const proc = spawn('bash', ['-c', `set -euo pipefail\n${script}`], {
    cwd,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d) => {
    out += d;
  });
  proc.stderr?.on('data', (d) => {
    out += d;
  });
  // 'exit', not 'close': a job the script left in the background (the webhook receiver) keeps
  // the pipes open.
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { label, proc, output: () => out, exited };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until a background terminal is ready: `npm start` serving, anything else printing. */
export async function waitReady(t: Terminal, opts: { localDir: string; port: number; timeoutMs: number }) {
  const deadline = Date.now() + opts.timeoutMs;
  const startsStack = startsStackIn(t);
  for (;;) {
    if (t.proc.exitCode !== null) throw new Error(`${t.label} ended (${t.proc.exitCode}):\n${t.output()}`);
    if (startsStack) {
      if (existsSync(join(opts.localDir, 'state.json')) && t.output().includes('Ctrl-C stops everything')) {
        try {
          const res = await fetch(`http://127.0.0.1:${opts.port}/v1/integration/health`);
          if (res.status === 200) return;
        } catch {}
      }
    } else if (t.output().includes('\n')) {
      return;
    }
    if (Date.now() > deadline) throw new Error(`${t.label} was not ready in time:\n${t.output()}`);
    await sleep(200);
  }
}

/** Whether a terminal's commands (not its comments) run `npm start`. */
const startsStackIn = (t: Terminal) => /^[^#\n]*\bnpm start\b/m.test(t.proc.spawnargs.join(' '));

/**
 * Stops a terminal as Ctrl-C would: the local runtime (its pid from the state file) alone, so it
 * gets one SIGINT and stops DynamoDB Local itself; anything else by its group. Then whatever is
 * left in the group (a job the script put in the background) is killed.
 */
export async function stopTerminal(t: Terminal, localDir: string) {
  if (t.proc.exitCode === null && t.proc.signalCode === null) {
    let pid = -(t.proc.pid as number);
    if (startsStackIn(t)) {
      try {
        pid = (JSON.parse(readFileSync(join(localDir, 'state.json'), 'utf8')) as { pid: number }).pid;
      } catch {}
    }
    try {
      process.kill(pid, 'SIGINT');
    } catch {}
    await Promise.race([t.exited, sleep(15_000)]);
  }
  try {
    process.kill(-(t.proc.pid as number), 'SIGKILL');
  } catch {}
}
