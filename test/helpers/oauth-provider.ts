import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

interface CodeGrant {
  clientId: string;
  redirectUri: string;
  scope: string;
  challenge?: string;
  used: boolean;
}

interface Injected {
  status: number;
  body: string;
  contentType?: string;
  delayMs?: number;
}

/**
 * A small but strict OAuth 2 authorization server on 127.0.0.1 for tests: authorization code
 * with PKCE S256 (the code_verifier is required whenever a challenge was sent), single-use codes
 * bound to client and redirect URI, rotating refresh tokens (a used one is refused), RFC 7009
 * revocation, client authentication by Basic or form. Failures can be injected per endpoint.
 */
export interface FakeProvider {
  url: string;
  clientId: string;
  clientSecret: string;
  /** Every token value it has issued (to assert none leaks). */
  issued: string[];
  revoked: string[];
  calls: { authorizationCode: number; refresh: number; revoke: number };
  /** Seconds in `expires_in` (undefined: omitted). */
  expiresIn: number | undefined;
  /** Delay of refresh answers, to make concurrent refreshes overlap. */
  refreshDelayMs: number;
  /** Answer the next token call with this instead. */
  failNextToken: (f: Injected) => void;
  failNextRevoke: (f: Injected) => void;
  /**
   * Holds the next token request until `release()`: `arrived` resolves once it is received, so a
   * test can act while a refresh is inside its provider call (no sleeping).
   */
  holdNextToken: () => { arrived: Promise<void>; release: () => void };
  /** Follows an authorization URL as a consenting user would; returns the redirect's query. */
  authorize: (authorizationUrl: string, opts?: { deny?: boolean }) => Promise<URLSearchParams>;
  /** Invalidates every refresh token (the user revoked the app at the provider). */
  revokeAllRefreshTokens: () => void;
  stop: () => Promise<void>;
}

const token = (prefix: string) => `${prefix}_${randomBytes(18).toString('base64url')}`;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startFakeProvider(opts: { clientId?: string; clientSecret?: string } = {}) {
  const clientId = opts.clientId ?? 'test-client';
  const clientSecret = opts.clientSecret ?? 'test-secret-value-123';
  const codes = new Map<string, CodeGrant>();
  const refreshTokens = new Map<string, { scope: string; active: boolean }>();
  const pending: { token: Injected[]; revoke: Injected[] } = { token: [], revoke: [] };
  const holds: { arrived: () => void; released: Promise<void> }[] = [];
  const state: Omit<FakeProvider, 'url' | 'authorize' | 'stop'> = {
    clientId,
    clientSecret,
    issued: [],
    revoked: [],
    calls: { authorizationCode: 0, refresh: 0, revoke: 0 },
    expiresIn: 3600,
    refreshDelayMs: 0,
    failNextToken: (f) => pending.token.push(f),
    failNextRevoke: (f) => pending.revoke.push(f),
    holdNextToken: () => {
      let arrived!: () => void;
      let release!: () => void;
      const arrivedP = new Promise<void>((r) => {
        arrived = r;
      });
      const released = new Promise<void>((r) => {
        release = r;
      });
      holds.push({ arrived, released });
      return { arrived: arrivedP, release };
    },
    revokeAllRefreshTokens: () => {
      for (const v of refreshTokens.values()) v.active = false;
    },
  };

  const issue = (scope: string) => {
    const access = token('at');
    const refresh = token('rt');
    state.issued.push(access, refresh);
    refreshTokens.set(refresh, { scope, active: true });
    return {
      access_token: access,
      token_type: 'bearer',
      refresh_token: refresh,
      scope,
      ...(state.expiresIn === undefined ? {} : { expires_in: state.expiresIn }),
    };
  };

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    const oauthError = (status: number, error: string, description?: string) =>
      json(status, { error, ...(description ? { error_description: description } : {}) });

    if (req.method === 'GET' && url.pathname === '/authorize') {
      const q = url.searchParams;
      const redirect = q.get('redirect_uri');
      if (q.get('client_id') !== clientId || !redirect) return oauthError(400, 'invalid_request');
      const back = new URL(redirect);
      if (q.get('deny') === '1') {
        back.searchParams.set('error', 'access_denied');
      } else {
        const challenge = q.get('code_challenge') ?? undefined;
        if (challenge && q.get('code_challenge_method') !== 'S256') return oauthError(400, 'invalid_request');
        const code = token('code');
        codes.set(code, {
          clientId,
          redirectUri: redirect,
          scope: q.get('scope') ?? '',
          challenge,
          used: false,
        });
        back.searchParams.set('code', code);
      }
      const st = q.get('state');
      if (st) back.searchParams.set('state', st);
      res.writeHead(302, { Location: back.toString() });
      return res.end();
    }

    if (req.method === 'POST' && (url.pathname === '/token' || url.pathname === '/revoke')) {
      const form = new URLSearchParams(await readBody(req));
      const hold = url.pathname === '/token' ? holds.shift() : undefined;
      if (hold) {
        hold.arrived();
        await hold.released;
      }
      const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
      const [id, secret] = basic
        ? Buffer.from(basic[1] ?? '', 'base64')
            .toString()
            .split(':')
            .map(decodeURIComponent)
        : [form.get('client_id'), form.get('client_secret')];
      const injected = (url.pathname === '/token' ? pending.token : pending.revoke).shift();
      if (injected) {
        if (injected.delayMs) await new Promise((r) => setTimeout(r, injected.delayMs));
        res.writeHead(injected.status, { 'Content-Type': injected.contentType ?? 'application/json' });
        return res.end(injected.body);
      }
      if (id !== clientId || secret !== clientSecret) return oauthError(401, 'invalid_client');

      if (url.pathname === '/revoke') {
        state.calls.revoke += 1;
        const t = form.get('token') ?? '';
        state.revoked.push(t);
        const rt = refreshTokens.get(t);
        if (rt) rt.active = false;
        res.writeHead(200);
        return res.end();
      }

      const grant = form.get('grant_type');
      if (grant === 'authorization_code') {
        state.calls.authorizationCode += 1;
        const code = codes.get(form.get('code') ?? '');
        if (!code || code.used) return oauthError(400, 'invalid_grant', 'The code is invalid or was used');
        code.used = true;
        if (code.redirectUri !== form.get('redirect_uri'))
          return oauthError(400, 'invalid_grant', 'redirect_uri');
        if (code.challenge) {
          const verifier = form.get('code_verifier') ?? '';
          const expected = createHash('sha256').update(verifier).digest('base64url');
          if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || expected !== code.challenge) {
            return oauthError(400, 'invalid_grant', 'PKCE verification failed');
          }
        }
        return json(200, issue(code.scope));
      }
      if (grant === 'refresh_token') {
        state.calls.refresh += 1;
        if (state.refreshDelayMs) await new Promise((r) => setTimeout(r, state.refreshDelayMs));
        const presented = form.get('refresh_token') ?? '';
        const rt = refreshTokens.get(presented);
        if (!rt?.active) return oauthError(400, 'invalid_grant', 'The refresh token is invalid or was used');
        rt.active = false; // rotation: each refresh token works once
        return json(200, issue(rt.scope));
      }
      return oauthError(400, 'unsupported_grant_type');
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const provider: FakeProvider = Object.assign(state, {
    url: base,
    authorize: async (authorizationUrl: string, o: { deny?: boolean } = {}) => {
      const u = new URL(authorizationUrl);
      if (o.deny) u.searchParams.set('deny', '1');
      const res = await fetch(u, { redirect: 'manual' });
      const location = res.headers.get('location');
      if (res.status !== 302 || !location) throw new Error(`authorize answered ${res.status}`);
      return new URL(location).searchParams;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
  return provider;
}

/** An OAUTH_APPS_FILE entry pointing an app at a fake provider. */
export function fakeApp(provider: { url: string }, overrides: Record<string, unknown> = {}) {
  return {
    id: 'fake',
    name: 'Fake provider',
    description: 'A test provider on 127.0.0.1',
    authorize_url: `${provider.url}/authorize`,
    token_url: `${provider.url}/token`,
    revoke_url: `${provider.url}/revoke`,
    scopes: ['read', 'write', 'admin'],
    default_scopes: ['read'],
    pkce: true,
    ...overrides,
  };
}
