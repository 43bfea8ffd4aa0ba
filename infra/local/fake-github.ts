/**
 * `npm run -s fake:github -- [--port 4010] [--apps-file <path>] [--quiet]` starts the fake GitHub
 * of the tests (test/helpers/fake-github.ts) on 127.0.0.1 for trying GitHub bindings locally: the
 * REST calls of the sync adapter and GitHub's OAuth web flow, any bearer token accepted. It seeds
 * `acme/app` with a few issues, a pull request and a comment, prints its URL and the
 * OAUTH_APPS_FILE entry of an app `github` pointing at it (or writes the file with
 * `--apps-file`), logs every request it answers (method, path, status; not with `--quiet`) and
 * runs until Ctrl-C. Change an issue as someone on GitHub would with its REST API, e.g.
 * `curl -X PATCH http://127.0.0.1:4010/repos/acme/app/issues/2 -H 'Authorization: Bearer x' -d '{"state":"closed"}'`.
 *
 * The local stack must run with ALLOW_LOOPBACK_TARGETS=true (its default) to call it, and the
 * app's client credentials must be in the local secret source (any id and secret do):
 * `npm run -s dev:secret -- oauth/github '{"client_id":"local","client_secret":"local"}'`.
 */
import { writeFileSync } from 'node:fs';
import { startFakeGitHub } from '#test/helpers/fake-github.ts';
import { cliArgs, fail } from './cli-args.ts';

const usage = 'usage: npm run -s fake:github -- [--port 4010] [--apps-file <path>] [--quiet]';
const { values } = cliArgs(
  {
    port: { type: 'string', default: '4010' },
    'apps-file': { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
  usage,
);
const port = Number(values.port);
if (!Number.isInteger(port) || port < 1 || port > 65_535) fail(`--port must be a port number\n${usage}`);

const gh = await startFakeGitHub({ port, acceptAnyToken: true, oauth: true }).catch((err: Error) =>
  fail(`The fake GitHub could not listen on 127.0.0.1:${port}: ${err.message}`),
);
gh.addIssue('acme', 'app', {
  title: 'Login page returns 500',
  body: 'Steps: open /login, submit the form.',
  labels: [{ id: 1, name: 'bug', color: 'd73a4a', default: true, description: "Something isn't working" }],
});
gh.addIssue('acme', 'app', { title: 'Add dark mode', body: 'Users ask for it.' });
gh.addIssue('acme', 'app', {
  title: 'Update dependencies',
  state: 'closed',
  state_reason: 'completed',
  closed_at: new Date().toISOString().slice(0, 19).concat('Z'),
});
gh.addPullRequest('acme', 'app', { title: 'Fix the login page', body: 'Fixes #1' });
gh.addComment('acme', 'app', 1, { body: 'I can reproduce this on staging.' });

const app = {
  id: 'github',
  name: 'GitHub (local fake)',
  description: `The fake GitHub on ${gh.url}`,
  authorize_url: `${gh.url}/login/oauth/authorize`,
  token_url: `${gh.url}/login/oauth/access_token`,
  revoke_url: null,
  scopes: ['repo', 'read:user'],
  default_scopes: ['repo'],
  pkce: true,
  token_auth_method: 'client_secret_post',
  api_base_url: gh.url,
  sync_adapter: 'github',
};
const appsFile = values['apps-file'];
if (appsFile) writeFileSync(appsFile, `${JSON.stringify([app], null, 2)}\n`);

process.stdout.write(`Fake GitHub on ${gh.url} (repository acme/app; any bearer token is accepted)\n`);
process.stdout.write(
  appsFile
    ? `Wrote the OAUTH_APPS_FILE ${appsFile}\n`
    : `OAUTH_APPS_FILE entry:\n${JSON.stringify([app], null, 2)}\n`,
);
process.stdout.write(
  `Change an issue as someone on GitHub would: curl -X PATCH ${gh.url}/repos/acme/app/issues/2 -H 'Authorization: Bearer x' -d '{"state":"closed"}'\n`,
);
process.stdout.write('Ctrl-C stops it.\n');

// The request log: what the sync (or you) asked, and how GitHub would have answered. The calls
// are dropped once logged, so a long-running fake does not grow.
const log = setInterval(() => {
  for (const call of gh.calls.splice(0)) {
    if (values.quiet) continue;
    const query = new URLSearchParams(call.query).toString();
    const conditional = call.conditional ? ' (If-None-Match)' : '';
    process.stdout.write(
      `${new Date().toISOString().slice(11, 19)} ${call.method} ${call.path}${query ? `?${query}` : ''}${conditional} → ${call.status}\n`,
    );
  }
}, 200);

const stop = () => {
  clearInterval(log);
  void gh.stop().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
