import { readFileSync, statSync } from 'node:fs';
import * as v from 'valibot';
import { ConfigError, config, registerSettingsCheck } from '#shared/config.ts';
import { check, record, superRefine, url } from '#shared/validation.ts';
import { checkProviderUrl } from './urls.ts';

/**
 * One OAuth provider of the catalog, with the same field names `GET /oauth/apps/{id}` returns and
 * an `OAUTH_APPS_FILE` entry uses. Never holds a secret: client credentials live in the secret
 * `oauth/<id>` (see credentials.ts).
 */
export const oauthAppSchema = v.pipe(
  v.strictObject(
    v.object({
      id: v.pipe(
        v.string(),
        v.regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lowercase letters, digits, - and _ (max 63)'),
        v.description('Catalog id, also the name of the client-credentials secret `oauth/<id>`'),
      ),
      name: v.pipe(v.string(), v.minLength(1), v.maxLength(100)),
      description: v.optional(v.pipe(v.string(), v.maxLength(500)), ''),
      logo_url: v.optional(v.nullable(url()), null),
      authorize_url: v.pipe(url(), v.description('Authorization endpoint (RFC 6749 §3.1)')),
      token_url: v.pipe(url(), v.description('Token endpoint (RFC 6749 §3.2)')),
      revoke_url: v.pipe(
        v.optional(v.nullable(url()), null),
        v.description('Revocation endpoint (RFC 7009); null when the provider has none'),
      ),
      scopes: v.pipe(
        v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(200))),
        v.maxLength(200),
        v.description('Scopes a connection may request'),
      ),
      default_scopes: v.pipe(
        v.optional(v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(200))), []),
        v.description('Requested when none are given'),
      ),
      pkce: v.pipe(v.boolean(), v.description('Whether the provider supports PKCE (S256)')),
      scope_separator: v.pipe(
        v.optional(v.picklist([' ', ',']), ' '),
        v.description('How the provider joins scopes'),
      ),
      token_auth_method: v.pipe(
        v.optional(v.picklist(['client_secret_basic', 'client_secret_post']), 'client_secret_basic'),
        v.description('How the client authenticates at the token endpoint'),
      ),
      authorize_params: v.pipe(
        v.optional(record(v.string(), v.string()), {}),
        v.description('Extra query parameters of the authorization request (e.g. access_type=offline)'),
      ),
      api_base_url: v.pipe(
        v.optional(v.nullable(url()), null),
        v.description("Base URL of the provider's API that sync adapters call (e.g. https://api.github.com)"),
      ),
      sync_adapter: v.pipe(
        v.optional(v.nullable(v.pipe(v.string(), v.regex(/^[a-z][a-z0-9_-]{0,30}$/))), null),
        v.description(
          'The data sync adapter that reads and writes this provider (`github`, `slack`); null: no sync',
        ),
      ),
    }).entries,
  ),
  superRefine((app, ctx) => {
    const allowed = new Set(app.scopes);
    for (const [i, s] of app.default_scopes.entries()) {
      if (!allowed.has(s)) {
        ctx.addIssue({ code: 'custom', path: ['default_scopes', i], message: `'${s}' is not in scopes` });
      }
    }
    for (const field of ['authorize_url', 'token_url', 'revoke_url', 'api_base_url'] as const) {
      const url = app[field];
      const problem = url ? checkProviderUrl(url) : undefined;
      if (problem) ctx.addIssue({ code: 'custom', path: [field], message: problem });
    }
  }),
);

export type OAuthApp = v.InferOutput<typeof oauthAppSchema>;

const builtIn: v.InferInput<typeof oauthAppSchema>[] = [
  {
    id: 'github',
    name: 'GitHub',
    description: 'Repositories, issues and pull requests.',
    logo_url: 'https://github.githubassets.com/favicons/favicon.svg',
    authorize_url: 'https://github.com/login/oauth/authorize',
    token_url: 'https://github.com/login/oauth/access_token',
    // GitHub revokes through `DELETE /applications/{client_id}/grant`, not RFC 7009.
    revoke_url: null,
    scopes: [
      'read:user',
      'user:email',
      'repo',
      'public_repo',
      'read:org',
      'workflow',
      'gist',
      'notifications',
    ],
    default_scopes: ['read:user', 'user:email'],
    pkce: true,
    scope_separator: ' ',
    token_auth_method: 'client_secret_post',
    api_base_url: 'https://api.github.com',
    sync_adapter: 'github',
  },
  {
    id: 'google',
    name: 'Google',
    description: 'Google account, Calendar and Drive.',
    logo_url: 'https://www.google.com/favicon.ico',
    authorize_url: 'https://accounts.google.com/o/oauth2/v2/auth',
    token_url: 'https://oauth2.googleapis.com/token',
    revoke_url: 'https://oauth2.googleapis.com/revoke',
    scopes: [
      'openid',
      'email',
      'profile',
      'https://www.googleapis.com/auth/calendar.readonly',
      'https://www.googleapis.com/auth/calendar.events',
      'https://www.googleapis.com/auth/drive.readonly',
      'https://www.googleapis.com/auth/drive.file',
    ],
    default_scopes: ['openid', 'email', 'profile'],
    pkce: true,
    scope_separator: ' ',
    token_auth_method: 'client_secret_post',
    // Google issues a refresh token only for offline access, and again only with prompt=consent.
    authorize_params: { access_type: 'offline', prompt: 'consent', include_granted_scopes: 'true' },
  },
  {
    id: 'slack',
    name: 'Slack',
    description: 'Channels and messages of a Slack workspace.',
    logo_url: 'https://a.slack-edge.com/80588/marketing/img/meta/favicon-32.png',
    authorize_url: 'https://slack.com/oauth/v2/authorize',
    token_url: 'https://slack.com/api/oauth.v2.access',
    revoke_url: 'https://slack.com/api/auth.revoke',
    scopes: [
      'channels:read',
      'channels:history',
      'chat:write',
      'users:read',
      'users:read.email',
      'team:read',
    ],
    default_scopes: ['channels:read', 'chat:write'],
    pkce: false,
    scope_separator: ',',
    token_auth_method: 'client_secret_basic',
    api_base_url: 'https://slack.com/api',
    sync_adapter: 'slack',
  },
];

/** Raised when OAUTH_APPS_FILE cannot be read or does not hold a valid list of apps: a bad setting. */
export class CatalogFileError extends ConfigError {
  override name = 'CatalogFileError';
}

let cache: { key: string; apps: Map<string, OAuthApp> } | undefined;

/** Reads and validates an apps file (also used by the CDK stack at synth). */
export function readAppsFile(file: string): OAuthApp[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CatalogFileError(`OAUTH_APPS_FILE ${file}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = check(v.pipe(v.array(oauthAppSchema), v.maxLength(500)), raw);
  if (!parsed.success) {
    const problems = parsed.issues.map((i) => `[${i.path.join('.')}] ${i.message}`);
    throw new CatalogFileError(`OAUTH_APPS_FILE ${file} is not a valid app list: ${problems.join('; ')}`);
  }
  const ids = new Set<string>();
  for (const app of parsed.data) {
    if (ids.has(app.id))
      throw new CatalogFileError(`OAUTH_APPS_FILE ${file}: app '${app.id}' is listed twice`);
    ids.add(app.id);
  }
  return parsed.data;
}

/**
 * The catalog: the built-in apps, then the apps of OAUTH_APPS_FILE, which add to them or replace
 * a built-in app of the same id as a whole. Cached per process and re-read when the file or the
 * loopback setting changes. A bad file throws {@link CatalogFileError} naming each bad field.
 */
export function catalog(): Map<string, OAuthApp> {
  const cfg = config();
  const file = cfg.OAUTH_APPS_FILE;
  const key = `${file ?? ''}|${file ? statSync(file, { throwIfNoEntry: false })?.mtimeMs : ''}|${cfg.ALLOW_LOOPBACK_TARGETS}`;
  if (cache?.key === key) return cache.apps;
  const apps = new Map<string, OAuthApp>();
  for (const app of builtIn) apps.set(app.id, v.parse(oauthAppSchema, app));
  if (file) for (const app of readAppsFile(file)) apps.set(app.id, app);
  cache = { key, apps };
  return apps;
}

/** Every app, sorted by id. */
export function listApps(): OAuthApp[] {
  return [...catalog().values()].sort((a, b) => a.id.localeCompare(b.id));
}

/** One app, or undefined. */
export function findApp(id: string): OAuthApp | undefined {
  return catalog().get(id);
}

// A bad file fails where settings are checked (Lambda init, `npm start`), not on the first OAuth call.
registerSettingsCheck('OAUTH_APPS_FILE', (cfg) => {
  if (cfg.OAUTH_APPS_FILE) catalog();
});

/** Forgets the cached catalog (tests). */
export function resetCatalog(): void {
  cache = undefined;
}
