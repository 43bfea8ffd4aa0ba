import { readFileSync, statSync } from 'node:fs';
import * as z from 'zod';
import { ConfigError, config, registerSettingsCheck } from '#shared/config.ts';
import { checkProviderUrl } from './urls.ts';

/**
 * One OAuth provider of the catalog, with the same field names `GET /oauth/apps/{id}` returns and
 * an `OAUTH_APPS_FILE` entry uses. Never holds a secret: client credentials live in the secret
 * `oauth/<id>` (see credentials.ts).
 */
export const oauthAppSchema = z
  .object({
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lowercase letters, digits, - and _ (max 63)')
      .describe('Catalog id, also the name of the client-credentials secret `oauth/<id>`'),
    name: z.string().min(1).max(100),
    description: z.string().max(500).default(''),
    logo_url: z.url().nullable().default(null),
    authorize_url: z.url().describe('Authorization endpoint (RFC 6749 §3.1)'),
    token_url: z.url().describe('Token endpoint (RFC 6749 §3.2)'),
    revoke_url: z
      .url()
      .nullable()
      .default(null)
      .describe('Revocation endpoint (RFC 7009); null when the provider has none'),
    scopes: z.array(z.string().min(1).max(200)).max(200).describe('Scopes a connection may request'),
    default_scopes: z.array(z.string().min(1).max(200)).default([]).describe('Requested when none are given'),
    pkce: z.boolean().describe('Whether the provider supports PKCE (S256)'),
    scope_separator: z.enum([' ', ',']).default(' ').describe('How the provider joins scopes'),
    token_auth_method: z
      .enum(['client_secret_basic', 'client_secret_post'])
      .default('client_secret_basic')
      .describe('How the client authenticates at the token endpoint'),
    authorize_params: z
      .record(z.string(), z.string())
      .default({})
      .describe('Extra query parameters of the authorization request (e.g. access_type=offline)'),
    api_base_url: z
      .url()
      .nullable()
      .default(null)
      .describe("Base URL of the provider's API that sync adapters call (e.g. https://api.github.com)"),
    sync_adapter: z
      .string()
      .regex(/^[a-z][a-z0-9_-]{0,30}$/)
      .nullable()
      .default(null)
      .describe(
        'The data sync adapter that reads and writes this provider (`github`, `slack`); null: no sync',
      ),
  })
  .strict()
  .superRefine((app, ctx) => {
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
  });

export type OAuthApp = z.output<typeof oauthAppSchema>;

const builtIn: z.input<typeof oauthAppSchema>[] = [
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
  const parsed = z.array(oauthAppSchema).max(500).safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `[${i.path.join('.')}] ${i.message}`);
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
  for (const app of builtIn) apps.set(app.id, oauthAppSchema.parse(app));
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
