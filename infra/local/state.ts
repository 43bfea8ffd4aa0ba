import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The folder local runs keep their data, keys and secrets in (git-ignored). */
export const LOCAL_DIR = resolve(process.env.LOCAL_DIR ?? join(import.meta.dirname, '..', '..', '.local'));
export const STATE_FILE = join(LOCAL_DIR, 'state.json');

/** What a running `npm start` tells `dev:token`, `emit` and `dev:secret`. */
export interface LocalState {
  pid: number;
  baseUrl: string;
  sqsEndpoint: string;
  queueUrls: Record<string, string>;
  keysFile: string;
  secretsFile: string;
  issuer: string;
  audience: string;
}

export function writeState(state: LocalState): void {
  writeFileSync(STATE_FILE, JSON.stringify(state, null, 2));
}

/** The running local stack's state, or an explanation of how to start it. */
export function readState(): LocalState {
  if (!existsSync(STATE_FILE)) {
    throw new Error('No local stack is running here: start it with `npm start` first.');
  }
  const state = JSON.parse(readFileSync(STATE_FILE, 'utf8')) as LocalState;
  try {
    process.kill(state.pid, 0);
  } catch {
    throw new Error('The local stack that wrote .local/state.json has stopped: start it with `npm start`.');
  }
  return state;
}
