/**
 * `npm run -s dev:secret -- <name> '<value>'` stores a secret in the local secret source
 * (e.g. `oauth/github '{"client_id":"…","client_secret":"…"}'`). Works while `npm start` runs.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliArgs, fail } from './cli-args.ts';
import { LOCAL_DIR } from './state.ts';

const usage =
  'usage: npm run -s dev:secret -- <name> \'<value>\'   (e.g. oauth/github \'{"client_id":"…","client_secret":"…"}\')';
const { positionals } = cliArgs({}, usage);
const [name, value] = positionals;
if (!name || value === undefined || !/^[\w/.-]{1,200}$/.test(name)) fail(usage);
if (name.startsWith('oauth/')) {
  try {
    const parsed = JSON.parse(value) as { client_id?: unknown; client_secret?: unknown };
    if (typeof parsed.client_id !== 'string' || typeof parsed.client_secret !== 'string') throw new Error();
  } catch {
    fail(`An oauth/<app> secret is JSON with string client_id and client_secret.\n${usage}`);
  }
}
const prefix = process.env.SECRETS_PREFIX ?? 'pronaflow-integrations/';
const file = join(LOCAL_DIR, 'secrets.json');
const all = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>) : {};
all[`${prefix}${name}`] = value;
// Write beside it, then rename (atomic on one filesystem): the running local runtime re-reads
// the file when it changes and must never see it half written.
const temp = `${file}.${process.pid}.tmp`;
writeFileSync(temp, JSON.stringify(all, null, 2), { mode: 0o600 });
renameSync(temp, file);
process.stdout.write(`stored ${name}\n`);
