import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { endpoint } from '#functions/endpoint.ts';
import { handler as getApp } from '#functions/oauth/get-oauth-app.ts';
import { handler as listApps } from '#functions/oauth/list-oauth-apps.ts';
import { routes } from '#functions/routes.ts';
import { startLocalStack } from '#infra/local/stack.ts';
import { ConfigError } from '#shared/config.ts';
import { ok } from '#shared/http/reply.ts';
import { CatalogFileError, catalog, resetCatalog } from '#shared/oauth/catalog.ts';
import { parseScopes } from '#shared/oauth/provider.ts';
import { checkRedirectUri } from '#shared/oauth/service.ts';
import { checkProviderUrl } from '#shared/oauth/urls.ts';
import { queueWorker, scheduledWorker } from '#shared/queue-worker.ts';
import { setEnv, useTestTable } from '#test/helpers/env.ts';
import { invoke } from '#test/helpers/http-event.ts';
import { type TestIdentity, testIdentity } from '#test/helpers/session.ts';

const dir = mkdtempSync(join(tmpdir(), 'catalog-'));
const file = (name: string, apps: unknown) => {
  const path = join(dir, name);
  writeFileSync(path, typeof apps === 'string' ? apps : JSON.stringify(apps));
  return path;
};
const app = (over: Record<string, unknown> = {}) => ({
  id: 'acme',
  name: 'Acme',
  authorize_url: 'https://auth.acme.example/authorize',
  token_url: 'https://auth.acme.example/token',
  revoke_url: null,
  scopes: ['a', 'b'],
  default_scopes: ['a'],
  pkce: true,
  ...over,
});

// Session requests read the user's membership record and plan.
useTestTable();
let id: TestIdentity;
beforeAll(async () => {
  id = await testIdentity();
});
beforeEach(() => {
  setEnv({ OAUTH_APPS_FILE: undefined, ALLOW_LOOPBACK_TARGETS: undefined });
  resetCatalog();
});

describe('OAuth catalog', () => {
  it('lists the built-in github, google and slack apps with their real endpoints and no secret', async () => {
    const res = await invoke(listApps, routes.listOAuthApps, { token: await id.jwt('u1', 'ws1') });
    expect(res.status).toBe(200);
    const ids = res.body.data.map((a: { id: string }) => a.id);
    expect(ids).toEqual(['github', 'google', 'slack']);
    const byId = Object.fromEntries(res.body.data.map((a: { id: string }) => [a.id, a]));
    expect(byId.github.token_url).toBe('https://github.com/login/oauth/access_token');
    expect(byId.google.revoke_url).toBe('https://oauth2.googleapis.com/revoke');
    expect(byId.slack.authorize_url).toBe('https://slack.com/oauth/v2/authorize');
    expect(JSON.stringify(res.body)).not.toMatch(/client_secret"|client_id"/);
    expect(res.body.next_cursor).toBeNull();
  });

  it('answers one app, and 404 for an unknown one', async () => {
    const token = await id.jwt('u1', 'ws1');
    const res = await invoke(getApp, routes.getOAuthApp, { token, params: { id: 'google' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: 'google',
      pkce: true,
      default_scopes: ['openid', 'email', 'profile'],
    });
    expect((await invoke(getApp, routes.getOAuthApp, { token, params: { id: 'nope' } })).status).toBe(404);
  });

  it('adds and overrides apps from OAUTH_APPS_FILE', () => {
    setEnv({
      OAUTH_APPS_FILE: file('ok.json', [app(), app({ id: 'github', name: 'GitHub Enterprise' })]),
    });
    const apps = catalog();
    expect(apps.get('acme')).toMatchObject({
      scope_separator: ' ',
      token_auth_method: 'client_secret_basic',
    });
    expect(apps.get('github')?.name).toBe('GitHub Enterprise');
    expect(apps.has('slack')).toBe(true);
  });

  it('fails clearly on a bad file, naming the field', () => {
    const cases: [unknown, RegExp][] = [
      ['{not json', /OAUTH_APPS_FILE .*bad-0\.json/],
      [[app({ token_url: 'not a url' })], /\[0\.token_url\]/],
      [[app({ default_scopes: ['zzz'] })], /\[0\.default_scopes\.0\] 'zzz' is not in scopes/],
      [[app({ client_secret: 'x' })], /\[0\]/],
      [[app(), app()], /listed twice/],
      [[app({ token_url: 'http://auth.acme.example/token' })], /\[0\.token_url\] must use https/],
    ];
    cases.forEach(([content, message], i) => {
      setEnv({ OAUTH_APPS_FILE: file(`bad-${i}.json`, content) });
      resetCatalog();
      expect(() => catalog()).toThrow(CatalogFileError);
      expect(() => catalog()).toThrow(message);
    });
  });

  it('fails when a function is built (Lambda init) and when npm start starts, not on the first OAuth call', async () => {
    const bad = file('init.json', [app({ surprise: true })]);
    setEnv({ OAUTH_APPS_FILE: bad });
    expect(() => endpoint(routes.listOAuthApps, () => ok({}))).toThrow(ConfigError);
    expect(() => endpoint(routes.listOAuthApps, () => ok({}))).toThrow(/OAUTH_APPS_FILE .*init\.json.*\[0\]/);
    expect(() => queueWorker('test', async () => undefined)).toThrow(/OAUTH_APPS_FILE/);
    expect(() => scheduledWorker('test', 0, async () => undefined)).toThrow(/OAUTH_APPS_FILE/);
    setEnv({ OAUTH_APPS_FILE: undefined });
    // `npm start` refuses before it starts DynamoDB Local or anything else (no endpoint is given).
    const started = startLocalStack({
      dir: mkdtempSync(join(tmpdir(), 'stack-')),
      inMemory: true,
      env: { OAUTH_APPS_FILE: bad },
    });
    await expect(started).rejects.toThrow(/OAUTH_APPS_FILE .*init\.json/);
  });

  it('accepts http and loopback provider URLs only with ALLOW_LOOPBACK_TARGETS=true', () => {
    const local = [app({ token_url: 'http://127.0.0.1:9999/token' })];
    setEnv({ OAUTH_APPS_FILE: file('local.json', local) });
    expect(() => catalog()).toThrow(/must use https/);
    setEnv({ ALLOW_LOOPBACK_TARGETS: 'true' });
    expect(catalog().get('acme')?.token_url).toBe('http://127.0.0.1:9999/token');
  });
});

describe('checkProviderUrl', () => {
  it('refuses loopback, private and link-local hosts, credentials and fragments without the local setting', () => {
    setEnv({ ALLOW_LOOPBACK_TARGETS: undefined });
    for (const url of [
      'https://localhost/token',
      'https://127.0.0.1/token',
      'https://10.0.0.7/token',
      'https://169.254.169.254/latest',
      'https://[::1]/token',
      'https://[::ffff:127.0.0.1]/token',
      'https://u:p@auth.example/token',
      'https://auth.example/token#x',
    ]) {
      expect(checkProviderUrl(url), url).toBeDefined();
    }
    expect(checkProviderUrl('https://auth.example/token')).toBeUndefined();
  });
});

describe('checkRedirectUri', () => {
  it('accepts URIs under OAUTH_REDIRECT_URI_BASE only', () => {
    setEnv({ OAUTH_REDIRECT_URI_BASE: 'https://app.example/base' });
    expect(checkRedirectUri('https://app.example/base/cb?x=1')).toBe('https://app.example/base/cb?x=1');
    for (const bad of [
      'https://app.example/other',
      'https://app.example/basement',
      'https://app.example:444/base/cb',
      'http://app.example/base/cb',
      'https://evil.example/base/cb',
      'https://app.example/base/cb#frag',
    ]) {
      expect(() => checkRedirectUri(bad), bad).toThrow(/redirect_uri/);
    }
  });
});

describe('parseScopes', () => {
  it('reads space- and comma-separated scopes and arrays', () => {
    expect(parseScopes('repo user:email')).toEqual(['repo', 'user:email']);
    expect(parseScopes('chat:write,channels:read')).toEqual(['chat:write', 'channels:read']);
    expect(parseScopes(['a', 'a', 'b'])).toEqual(['a', 'b']);
    expect(parseScopes(undefined)).toBeUndefined();
  });
});
