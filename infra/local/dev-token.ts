/**
 * `npm run -s dev:token -- --user <id> --workspace <id> [--workspace <id2>] [--role admin|member] [--operator]`
 * prints a session JWT signed with the running local stack's key: one line, nothing else.
 */

import { cliArgs, fail } from './cli-args.ts';
import { loadOrCreateDevKeys, signSessionJwt } from './dev-keys.ts';
import { readState } from './state.ts';

const usage =
  'usage: npm run -s dev:token -- --user <id> --workspace <id> [--workspace <id>…] [--role admin|member] [--operator] [--expires 12h]';
const { values } = cliArgs(
  {
    user: { type: 'string' },
    workspace: { type: 'string', multiple: true },
    role: { type: 'string', default: 'admin' },
    expires: { type: 'string', default: '12h' },
    operator: { type: 'boolean', default: false },
  },
  usage,
);
if (!values.user || !values.workspace?.length) fail(usage);
if (values.role !== 'admin' && values.role !== 'member') fail(`--role must be admin or member\n${usage}`);

try {
  const state = readState();
  const keys = await loadOrCreateDevKeys(state.keysFile);
  const role = values.role as 'admin' | 'member';
  const jwt = await signSessionJwt({
    keys,
    userId: values.user as string,
    workspaces: (values.workspace as string[]).map((id) => ({ id, role })),
    operator: values.operator === true,
    issuer: state.issuer,
    audience: state.audience,
    expiresIn: values.expires as string,
  });
  process.stdout.write(`${jwt}\n`);
} catch (err) {
  fail((err as Error).message);
}
