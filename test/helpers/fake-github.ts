import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fake of GitHub's REST API on 127.0.0.1, for the calls the GitHub sync adapter makes, answering
 * as the real API does (docs.github.com "Issues", "Issue comments", "Rate limits for the REST API",
 * "Using pagination in the REST API", "Best practices"):
 *
 * - `GET /repos/{o}/{r}/issues` (issues and pull requests, PRs carrying `pull_request`) and
 *   `GET /repos/{o}/{r}/issues/comments`: `state`, `sort`, `direction`, `since` (updated_at >=
 *   since), `per_page` (default 30, max 100), `page`, and a `Link` header of `next`, `last`,
 *   `first`, `prev` URLs; like GitHub, the Link URLs name the repository by id
 *   (`/repositories/{id}/issues?…`), a path this fake answers too.
 * - `GET /repos/{o}/{r}/issues/{n}`: 404 unknown, 410 `This issue was deleted`, 301 with a
 *   `Location` for a transferred issue; `GET …/issues/comments/{id}`.
 * - `POST …/issues` (422 without a title), `PATCH …/issues/{n}` (state, state_reason, title, body,
 *   assignee(s), labels), `POST …/issues/{n}/comments`, `PATCH`/`DELETE …/issues/comments/{id}`;
 *   writes bump `updated_at` (second precision, as GitHub's timestamps are).
 * - ETags on GETs (weak for lists, strong for single records); a matching `If-None-Match` is a 304
 *   that does not count against the quota.
 * - `x-ratelimit-limit/remaining/used/reset/resource` on every answer, a quota per token and hour
 *   window; at 0 remaining a 403 with GitHub's primary-limit message. Secondary limits (403 with
 *   GitHub's message, optionally `retry-after`) and 429s with `retry-after` can be injected.
 * - Bearer tokens checked against accepted ones (a set, a predicate, the access tokens a fake OAuth
 *   provider issued, or any); `expireToken` makes one answer 401 `Bad credentials` from then on.
 * - Answers carry about 30 ordinary headers before the paging and rate-limit ones, as real answers
 *   do, so a client that keeps only the first 30 headers loses them.
 *
 * The clock is injectable (`now`, epoch ms) so quota resets follow a test's fake time.
 */

export interface FakeUser {
  login: string;
  id: number;
  type: 'User';
}

export interface FakeLabel {
  id: number;
  name: string;
  color: string;
  default: boolean;
  description: string | null;
}

export interface FakeIssue {
  id: number;
  node_id: string;
  number: number;
  title: string;
  body: string | null;
  state: 'open' | 'closed';
  state_reason: 'completed' | 'not_planned' | 'reopened' | null;
  user: FakeUser;
  assignee: FakeUser | null;
  assignees: FakeUser[];
  labels: FakeLabel[];
  milestone: { number: number; title: string; state: 'open' | 'closed'; due_on: string | null } | null;
  comments: number;
  locked: boolean;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
  /** Set for pull requests (the issues endpoint returns both). */
  pull_request?: { url: string; html_url: string; diff_url: string; patch_url: string; merged_at: null };
  draft?: boolean;
}

export interface FakeComment {
  id: number;
  node_id: string;
  issue_number: number;
  body: string;
  user: FakeUser;
  created_at: string;
  updated_at: string;
}

interface Repo {
  id: number;
  owner: string;
  name: string;
  issues: Map<number, FakeIssue>;
  comments: Map<number, FakeComment>;
  deleted: Set<number>;
  /** number → the issue's new API URL. */
  transferred: Map<number, string>;
  malformed: { issues: unknown[]; comments: unknown[] };
  nextNumber: number;
}

export interface FakeCall {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
  /** The request carried an `If-None-Match`. */
  conditional: boolean;
  /** The request's headers, lower-case (the bearer token included: a test helper, never logged). */
  headers: Record<string, string>;
  /** The request body as sent. */
  body: string;
}

/** An answer to give instead of the next matching requests (after the token check). */
export type Injection =
  /** GitHub's secondary rate limit: 403 (or 429) with its message, `retry-after` when given. */
  | { kind: 'secondary'; retryAfter?: number; status?: 403 | 429; times?: number }
  /** 429 Too Many Requests with `retry-after`. */
  | { kind: 'too_many'; retryAfter: number; times?: number }
  /** Any answer. */
  | { kind: 'raw'; status: number; body?: unknown; headers?: Record<string, string>; times?: number }
  /** The connection is destroyed without an answer. */
  | { kind: 'drop'; times?: number };

export interface FakeGitHubOptions {
  /** Default 0 (any free port). */
  port?: number;
  /** Tokens accepted (mutable: add or delete later). */
  tokens?: Iterable<string>;
  acceptToken?: (token: string) => boolean;
  /** Accepts every access token this fake OAuth provider issued (`at_…`). */
  provider?: { issued: string[] };
  /** Accepts any bearer token (the local walk-through). */
  acceptAnyToken?: boolean;
  /**
   * Also answers GitHub's OAuth web flow for the local walk-through: `GET /login/oauth/authorize`
   * consents at once (302 to `redirect_uri` with `code` and `state`), `POST /login/oauth/access_token`
   * exchanges a code or a refresh token for an access token this fake then accepts. Any client id
   * and secret; PKCE is not checked (the tests use the strict fake OAuth provider instead).
   */
  oauth?: boolean;
  /** Requests per token and hour window (GitHub: 5000 for a user token). */
  quota?: number;
  /** Epoch ms. @default Date.now */
  now?: () => number;
  /** Ordinary headers sent before the paging and rate-limit ones (default 30). */
  paddingHeaders?: number;
}

export interface SeedOptions {
  owner: string;
  repo: string;
  issues?: number;
  pullRequests?: number;
  /** Comments on the first issue(s), round robin. */
  comments?: number;
  /** updated_at of the first seeded record (then one second apart). @default now - count seconds */
  start?: Date;
}

export interface FakeGitHub {
  url: string;
  port: number;
  /** Accepted tokens (mutable). */
  tokens: Set<string>;
  calls: FakeCall[];
  counters: { requests: number; notModified: number; rateLimited: number; unauthorized: number };
  /** Creates the repository when missing. */
  repo(owner: string, repo: string): Repo;
  /** Fills a repository quickly (10 000 issues in well under a second). */
  seed(opts: SeedOptions): { issues: FakeIssue[]; pullRequests: FakeIssue[]; comments: FakeComment[] };
  addIssue(owner: string, repo: string, fields?: Partial<FakeIssue>): FakeIssue;
  addPullRequest(owner: string, repo: string, fields?: Partial<FakeIssue>): FakeIssue;
  addComment(owner: string, repo: string, issueNumber: number, fields?: Partial<FakeComment>): FakeComment;
  issue(owner: string, repo: string, n: number): FakeIssue | undefined;
  comment(owner: string, repo: string, id: number): FakeComment | undefined;
  /** Changes an issue as someone on GitHub would (bumps updated_at). */
  editIssue(owner: string, repo: string, n: number, fields: Partial<FakeIssue>): FakeIssue;
  /** GET answers 410 `This issue was deleted`; it leaves the lists. */
  deleteIssue(owner: string, repo: string, n: number): void;
  /** GET answers 301 to the issue in `to` (`owner/repo`); it leaves the lists. */
  transferIssue(owner: string, repo: string, n: number, to?: string): void;
  /** Items listed first on every listing of that endpoint, whatever their shape. */
  injectMalformed(owner: string, repo: string, item: unknown, endpoint?: 'issues' | 'comments'): void;
  /** Queues an answer for the next requests (optionally only those `match` accepts). */
  inject(injection: Injection, match?: (method: string, path: string) => boolean): void;
  /** The token is refused with 401 `Bad credentials` from now on. */
  expireToken(token: string): void;
  /** A token's quota window; `set` changes it (remaining 0: the next counted call is refused). */
  quota(token: string): { limit: number; used: number; remaining: number; reset: number };
  setQuota(token: string, q: { remaining?: number; reset?: number }): void;
  stop(): Promise<void>;
}

const DOCS = 'https://docs.github.com/rest';
const PRIMARY_DOCS =
  'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-the-rate-limit-for-the-rest-api';
const SECONDARY_DOCS =
  'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits';
const WINDOW_SECONDS = 3600;

const iso = (ms: number) => `${new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19)}Z`;
const user = (login: string): FakeUser => ({
  login,
  id: Number.parseInt(createHash('sha1').update(login).digest('hex').slice(0, 7), 16),
  type: 'User',
});

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Ordinary headers of a GitHub answer, sent before the ones a client needs. */
function padding(count: number): [string, string][] {
  const real: [string, string][] = [
    ['cache-control', 'private, max-age=60, s-maxage=60'],
    ['vary', 'Accept, Authorization, Cookie, X-GitHub-OTP,Accept-Encoding, Accept, X-Requested-With'],
    ['x-oauth-scopes', 'repo, read:user'],
    ['x-accepted-oauth-scopes', 'repo'],
    ['x-github-media-type', 'github.v3; format=json'],
    ['x-github-api-version-selected', '2022-11-28'],
    ['access-control-expose-headers', 'ETag, Link, Location, Retry-After, X-GitHub-OTP, X-RateLimit-Limit'],
    ['access-control-allow-origin', '*'],
    ['strict-transport-security', 'max-age=31536000; includeSubdomains; preload'],
    ['x-frame-options', 'deny'],
    ['x-content-type-options', 'nosniff'],
    ['x-xss-protection', '0'],
    ['referrer-policy', 'origin-when-cross-origin, strict-origin-when-cross-origin'],
    ['content-security-policy', "default-src 'none'"],
    ['server', 'github.com'],
  ];
  const out = real.slice(0, count);
  for (let i = out.length; i < count; i++) out.push([`x-fake-padding-${i}`, 'p']);
  return out;
}

export async function startFakeGitHub(opts: FakeGitHubOptions = {}): Promise<FakeGitHub> {
  const now = opts.now ?? Date.now;
  const limit = opts.quota ?? 5000;
  const tokens = new Set(opts.tokens ?? []);
  const expired = new Set<string>();
  const repos = new Map<string, Repo>();
  const reposById = new Map<number, Repo>();
  const quotas = new Map<string, { used: number; reset: number }>();
  const injections: { injection: Injection; left: number; match?: (m: string, p: string) => boolean }[] = [];
  const calls: FakeCall[] = [];
  const counters = { requests: 0, notModified: 0, rateLimited: 0, unauthorized: 0 };
  let nextId = 1_000_000;
  let base = '';

  const accepted = (token: string) =>
    !expired.has(token) &&
    (opts.acceptAnyToken ||
      tokens.has(token) ||
      !!opts.acceptToken?.(token) ||
      (token.startsWith('at_') && !!opts.provider?.issued.includes(token)));

  const quotaOf = (token: string) => {
    const nowSec = Math.floor(now() / 1000);
    let q = quotas.get(token);
    if (!q || q.reset <= nowSec) {
      q = { used: 0, reset: nowSec + WINDOW_SECONDS };
      quotas.set(token, q);
    }
    return q;
  };

  const getRepo = (owner: string, name: string): Repo => {
    const key = `${owner}/${name}`.toLowerCase();
    let repo = repos.get(key);
    if (!repo) {
      repo = {
        id: 100_000 + repos.size,
        owner,
        name,
        issues: new Map(),
        comments: new Map(),
        deleted: new Set(),
        transferred: new Map(),
        malformed: { issues: [], comments: [] },
        nextNumber: 1,
      };
      repos.set(key, repo);
      reposById.set(repo.id, repo);
    }
    return repo;
  };

  const newIssue = (repo: Repo, at: number, fields: Partial<FakeIssue>, pr: boolean): FakeIssue => {
    const number = fields.number ?? repo.nextNumber;
    repo.nextNumber = Math.max(repo.nextNumber, number + 1);
    const stamp = iso(at);
    const issue: FakeIssue = {
      id: nextId++,
      node_id: `I_${randomBytes(6).toString('base64url')}`,
      number,
      title: `Issue ${number}`,
      body: null,
      state: 'open',
      state_reason: null,
      user: user('octocat'),
      assignee: null,
      assignees: [],
      labels: [],
      milestone: null,
      comments: 0,
      locked: false,
      created_at: stamp,
      updated_at: stamp,
      closed_at: null,
      ...(pr
        ? {
            pull_request: {
              url: `${base}/repos/${repo.owner}/${repo.name}/pulls/${number}`,
              html_url: `https://github.com/${repo.owner}/${repo.name}/pull/${number}`,
              diff_url: `https://github.com/${repo.owner}/${repo.name}/pull/${number}.diff`,
              patch_url: `https://github.com/${repo.owner}/${repo.name}/pull/${number}.patch`,
              merged_at: null,
            },
            draft: false,
          }
        : {}),
      ...fields,
    };
    repo.issues.set(number, issue);
    return issue;
  };

  const newComment = (repo: Repo, issueNumber: number, at: number, fields: Partial<FakeComment>) => {
    const stamp = iso(at);
    const comment: FakeComment = {
      id: nextId++,
      node_id: `IC_${randomBytes(6).toString('base64url')}`,
      issue_number: issueNumber,
      body: `Comment on #${issueNumber}`,
      user: user('octocat'),
      created_at: stamp,
      updated_at: stamp,
      ...fields,
    };
    repo.comments.set(comment.id, comment);
    const issue = repo.issues.get(issueNumber);
    if (issue) issue.comments += 1;
    return comment;
  };

  const issueView = (repo: Repo, i: FakeIssue) => {
    const api = `${base}/repos/${repo.owner}/${repo.name}/issues/${i.number}`;
    const html = `https://github.com/${repo.owner}/${repo.name}/${i.pull_request ? 'pull' : 'issues'}/${i.number}`;
    return {
      url: api,
      repository_url: `${base}/repos/${repo.owner}/${repo.name}`,
      comments_url: `${api}/comments`,
      html_url: html,
      ...i,
      author_association: 'OWNER',
    };
  };
  const commentView = (repo: Repo, c: FakeComment) => {
    const { issue_number, ...rest } = c;
    return {
      url: `${base}/repos/${repo.owner}/${repo.name}/issues/comments/${c.id}`,
      html_url: `https://github.com/${repo.owner}/${repo.name}/issues/${issue_number}#issuecomment-${c.id}`,
      issue_url: `${base}/repos/${repo.owner}/${repo.name}/issues/${issue_number}`,
      ...rest,
      author_association: 'OWNER',
    };
  };

  /** One page of a listing and its Link header (GitHub's format, repository by id). */
  const paginate = (items: unknown[], url: URL, listPath: string) => {
    const perPage = Math.min(100, Math.max(1, Number(url.searchParams.get('per_page') ?? 30) || 30));
    const page = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const link = (p: number) => {
      const u = new URL(`${base}${listPath}`);
      for (const [k, v] of url.searchParams) if (k !== 'page') u.searchParams.set(k, v);
      u.searchParams.set('page', String(p));
      return u.href;
    };
    const rels: string[] = [];
    if (page > 1) rels.push(`<${link(page - 1)}>; rel="prev"`);
    if (page < last) rels.push(`<${link(page + 1)}>; rel="next"`, `<${link(last)}>; rel="last"`);
    if (page > 1) rels.push(`<${link(1)}>; rel="first"`);
    return {
      body: items.slice((page - 1) * perPage, page * perPage),
      link: rels.length ? rels.join(', ') : undefined,
    };
  };

  const sortUpdated = <T extends { updated_at: string; id: number }>(
    list: T[],
    url: URL,
    dflt: 'asc' | 'desc',
  ) => {
    const direction = url.searchParams.get('direction') ?? dflt;
    const sign = direction === 'asc' ? 1 : -1;
    return list.sort((a, b) => sign * (a.updated_at.localeCompare(b.updated_at) || a.id - b.id));
  };

  const listIssues = (repo: Repo, url: URL) => {
    const state = url.searchParams.get('state') ?? 'open';
    const since = url.searchParams.get('since');
    const sort = url.searchParams.get('sort') ?? 'created';
    let list = [...repo.issues.values()].filter(
      (i) => !repo.deleted.has(i.number) && !repo.transferred.has(i.number),
    );
    if (state !== 'all') list = list.filter((i) => i.state === state);
    if (since) list = list.filter((i) => i.updated_at >= normalizeSince(since));
    if (sort === 'updated') sortUpdated(list, url, 'desc');
    else {
      const sign = (url.searchParams.get('direction') ?? 'desc') === 'asc' ? 1 : -1;
      list.sort((a, b) => sign * (a.created_at.localeCompare(b.created_at) || a.number - b.number));
    }
    return [...repo.malformed.issues, ...list];
  };

  const listComments = (repo: Repo, url: URL) => {
    const since = url.searchParams.get('since');
    let list = [...repo.comments.values()].filter(
      (c) => !repo.deleted.has(c.issue_number) && !repo.transferred.has(c.issue_number),
    );
    if (since) list = list.filter((c) => c.updated_at >= normalizeSince(since));
    if (url.searchParams.get('sort') === 'updated') sortUpdated(list, url, 'desc');
    else {
      const sign = url.searchParams.get('sort') && url.searchParams.get('direction') === 'desc' ? -1 : 1;
      list.sort((a, b) => sign * (a.created_at.localeCompare(b.created_at) || a.id - b.id));
    }
    return [...repo.malformed.comments, ...list];
  };

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', base);
    const method = req.method ?? 'GET';
    const raw = await readBody(req).catch(() => '');
    const conditional = req.headers['if-none-match'] !== undefined;
    const record = (status: number) =>
      calls.push({
        method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        status,
        conditional,
        headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
        body: raw,
      });
    counters.requests += 1;
    const auth = /^(?:Bearer|token) (.+)$/i.exec(req.headers.authorization ?? '');
    const token = auth?.[1]?.trim();
    let counted = false;

    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      record(status);
      const out: [string, string][] = [
        ['date', new Date(now()).toUTCString()],
        ...padding(opts.paddingHeaders ?? 30),
      ];
      if (body !== undefined) out.push(['content-type', 'application/json; charset=utf-8']);
      for (const [k, v] of Object.entries(headers)) out.push([k, v]);
      if (token && accepted(token)) {
        const q = quotaOf(token);
        out.push(
          ['x-ratelimit-limit', String(limit)],
          ['x-ratelimit-remaining', String(Math.max(0, limit - q.used))],
          ['x-ratelimit-reset', String(q.reset)],
          ['x-ratelimit-used', String(q.used)],
          ['x-ratelimit-resource', 'core'],
        );
      } else {
        // Unauthenticated answers carry the per-IP quota (60 an hour).
        out.push(
          ['x-ratelimit-limit', '60'],
          ['x-ratelimit-remaining', '59'],
          ['x-ratelimit-reset', String(Math.floor(now() / 1000) + WINDOW_SECONDS)],
          ['x-ratelimit-used', '1'],
          ['x-ratelimit-resource', 'core'],
        );
      }
      out.push(['x-github-request-id', randomBytes(8).toString('hex').toUpperCase()]);
      res.writeHead(status, out.flat());
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };
    const message = (status: number, text: string, extra: Record<string, unknown> = {}) =>
      send(status, { message: text, documentation_url: DOCS, status: String(status), ...extra });
    /** A GET answer with an ETag, or 304 when the client holds it (not counted against the quota). */
    const sendGet = (body: unknown, weak: boolean, headers: Record<string, string> = {}) => {
      const hash = createHash('sha1')
        .update(JSON.stringify(body))
        .update(headers.link ?? '')
        .digest('hex');
      const etag = weak ? `W/"${hash}"` : `"${hash}"`;
      if (matches(req.headers['if-none-match'], hash)) {
        if (counted && token) quotaOf(token).used -= 1;
        counters.notModified += 1;
        return send(304, undefined, { etag, ...headers });
      }
      return send(200, body, { etag, ...headers });
    };

    if (opts.oauth && url.pathname.startsWith('/login/oauth/'))
      return oauthFlow(url, method, raw, res, tokens);
    if (!token) {
      counters.unauthorized += 1;
      return message(401, 'Requires authentication');
    }
    if (!accepted(token)) {
      counters.unauthorized += 1;
      return message(401, 'Bad credentials');
    }
    const injected = injections.find((i) => !i.match || i.match(method, url.pathname));
    if (injected) {
      injected.left -= 1;
      if (injected.left <= 0) injections.splice(injections.indexOf(injected), 1);
      const inj = injected.injection;
      if (inj.kind === 'drop') {
        record(0);
        return res.socket?.destroy();
      }
      if (inj.kind === 'raw') return send(inj.status, inj.body, inj.headers);
      counters.rateLimited += 1;
      if (inj.kind === 'too_many') {
        return send(
          429,
          { message: 'Too many requests', documentation_url: SECONDARY_DOCS, status: '429' },
          { 'retry-after': String(inj.retryAfter) },
        );
      }
      return send(
        inj.status ?? 403,
        {
          message: `You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID ${randomBytes(8).toString('hex').toUpperCase()}.`,
          documentation_url: SECONDARY_DOCS,
          status: String(inj.status ?? 403),
        },
        inj.retryAfter === undefined ? {} : { 'retry-after': String(inj.retryAfter) },
      );
    }
    const q = quotaOf(token);
    if (q.used >= limit) {
      counters.rateLimited += 1;
      return send(403, {
        message: `API rate limit exceeded for user ID ${user(token.slice(0, 8)).id}. If you reach out to GitHub Support for help, please include the request ID ${randomBytes(8).toString('hex').toUpperCase()}.`,
        documentation_url: PRIMARY_DOCS,
      });
    }
    q.used += 1;
    counted = true;

    let body: Record<string, unknown> = {};
    if (raw) {
      try {
        const parsed = JSON.parse(raw);
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
        body = parsed;
      } catch {
        return message(400, 'Problems parsing JSON');
      }
    }

    const m =
      /^\/repos\/([^/]+)\/([^/]+)(\/.*)?$/.exec(url.pathname) ??
      /^\/repositories\/(\d+)(\/.*)?$/.exec(url.pathname);
    let repo: Repo | undefined;
    let rest: string;
    let listPath: string;
    if (m && url.pathname.startsWith('/repositories/')) {
      repo = reposById.get(Number(m[1]));
      rest = m[2] ?? '';
    } else if (m) {
      repo = repos.get(`${decodeURIComponent(m[1] ?? '')}/${decodeURIComponent(m[2] ?? '')}`.toLowerCase());
      rest = m[3] ?? '';
    } else {
      return message(404, 'Not Found');
    }
    if (!repo) return message(404, 'Not Found');
    listPath = `/repositories/${repo.id}`;

    const at = now();
    const number = /^\/issues\/(\d+)(\/comments)?$/.exec(rest);
    const commentId = /^\/issues\/comments\/(\d+)$/.exec(rest);

    if (rest === '/issues' && method === 'GET') {
      listPath += '/issues';
      const page = paginate(listIssues(repo, url), url, listPath);
      const issues = new Set(repo.issues.values());
      const body = page.body.map((i) => (issues.has(i as FakeIssue) ? issueView(repo, i as FakeIssue) : i));
      return sendGet(body, true, page.link ? { link: page.link } : {});
    }
    if (rest === '/issues/comments' && method === 'GET') {
      listPath += '/issues/comments';
      const page = paginate(listComments(repo, url), url, listPath);
      const comments = new Set(repo.comments.values());
      const body = page.body.map((c) =>
        comments.has(c as FakeComment) ? commentView(repo, c as FakeComment) : c,
      );
      return sendGet(body, true, page.link ? { link: page.link } : {});
    }
    if (rest === '/issues' && method === 'POST') {
      const problem = validateIssue(body, true);
      if (problem) return message(422, problem);
      const issue = newIssue(repo, at, {}, false);
      applyIssue(issue, body, at);
      const view = issueView(repo, issue);
      return send(201, view, { location: view.url });
    }
    if (commentId) {
      const comment = repo.comments.get(Number(commentId[1]));
      if (!comment || repo.deleted.has(comment.issue_number)) return message(404, 'Not Found');
      if (method === 'GET') return sendGet(commentView(repo, comment), false);
      if (method === 'PATCH') {
        if (typeof body.body !== 'string' || !body.body)
          return message(422, 'Invalid request.\n\n"body" wasn\'t supplied.');
        comment.body = body.body;
        comment.updated_at = iso(at);
        return send(200, commentView(repo, comment));
      }
      if (method === 'DELETE') {
        repo.comments.delete(comment.id);
        const issue = repo.issues.get(comment.issue_number);
        if (issue) issue.comments -= 1;
        return send(204, undefined);
      }
      return message(404, 'Not Found');
    }
    if (number) {
      const n = Number(number[1]);
      if (repo.deleted.has(n)) return message(410, 'This issue was deleted');
      const moved = repo.transferred.get(n);
      if (moved)
        return send(
          301,
          { message: 'Moved Permanently', url: moved, documentation_url: DOCS },
          { location: moved },
        );
      const issue = repo.issues.get(n);
      if (!issue) return message(404, 'Not Found');
      if (number[2]) {
        if (method !== 'POST') return message(404, 'Not Found');
        if (typeof body.body !== 'string' || !body.body)
          return message(422, 'Invalid request.\n\n"body" wasn\'t supplied.');
        const comment = newComment(repo, n, at, { body: body.body });
        issue.updated_at = iso(at);
        const view = commentView(repo, comment);
        return send(201, view, { location: view.url });
      }
      if (method === 'GET') return sendGet(issueView(repo, issue), false);
      if (method === 'PATCH') {
        const problem = validateIssue(body, false);
        if (problem) return message(422, problem);
        applyIssue(issue, body, at);
        return send(200, issueView(repo, issue));
      }
      return message(404, 'Not Found');
    }
    return message(404, 'Not Found');
  });

  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;

  const fake: FakeGitHub = {
    url: base,
    port,
    tokens,
    calls,
    counters,
    repo: getRepo,
    seed(s) {
      const repo = getRepo(s.owner, s.repo);
      const total = (s.issues ?? 0) + (s.pullRequests ?? 0) + (s.comments ?? 0);
      let at = s.start?.getTime() ?? now() - total * 1000;
      const out = {
        issues: [] as FakeIssue[],
        pullRequests: [] as FakeIssue[],
        comments: [] as FakeComment[],
      };
      for (let i = 0; i < (s.issues ?? 0); i++) {
        out.issues.push(newIssue(repo, at, {}, false));
        at += 1000;
      }
      for (let i = 0; i < (s.pullRequests ?? 0); i++) {
        out.pullRequests.push(newIssue(repo, at, { title: `Pull request ${repo.nextNumber}` }, true));
        at += 1000;
      }
      const targets = [...out.issues, ...out.pullRequests];
      for (let i = 0; i < (s.comments ?? 0) && targets.length; i++) {
        out.comments.push(newComment(repo, (targets[i % targets.length] as FakeIssue).number, at, {}));
        at += 1000;
      }
      return out;
    },
    addIssue: (owner, name, fields = {}) => newIssue(getRepo(owner, name), now(), fields, false),
    addPullRequest: (owner, name, fields = {}) => newIssue(getRepo(owner, name), now(), fields, true),
    addComment: (owner, name, n, fields = {}) => newComment(getRepo(owner, name), n, now(), fields),
    issue: (owner, name, n) => getRepo(owner, name).issues.get(n),
    comment: (owner, name, id) => getRepo(owner, name).comments.get(id),
    editIssue(owner, name, n, fields) {
      const issue = getRepo(owner, name).issues.get(n);
      if (!issue) throw new Error(`no issue ${n}`);
      Object.assign(issue, fields, { updated_at: fields.updated_at ?? iso(now()) });
      return issue;
    },
    deleteIssue: (owner, name, n) => void getRepo(owner, name).deleted.add(n),
    transferIssue(owner, name, n, to = `${owner}/${name}-transferred`) {
      const target = getRepo(to.split('/')[0] as string, to.split('/')[1] as string);
      getRepo(owner, name).transferred.set(
        n,
        `${base}/repositories/${target.id}/issues/${target.nextNumber}`,
      );
    },
    injectMalformed: (owner, name, item, endpoint = 'issues') =>
      void getRepo(owner, name).malformed[endpoint].push(item),
    inject: (injection, match) => void injections.push({ injection, left: injection.times ?? 1, match }),
    expireToken: (token) => void expired.add(token),
    quota(token) {
      const q = quotaOf(token);
      return { limit, used: q.used, remaining: Math.max(0, limit - q.used), reset: q.reset };
    },
    setQuota(token, s) {
      const q = quotaOf(token);
      if (s.remaining !== undefined) q.used = limit - s.remaining;
      if (s.reset !== undefined) q.reset = s.reset;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return fake;
}

/** `If-None-Match` matches when one of its tags (weak or strong) has the same opaque value. */
function matches(header: string | string[] | undefined, hash: string): boolean {
  if (!header) return false;
  const value = Array.isArray(header) ? header.join(',') : header;
  if (value.trim() === '*') return true;
  return value.split(',').some((t) => t.trim().replace(/^W\//, '') === `"${hash}"`);
}

/** GitHub accepts `since` as ISO 8601; the comparison is on the stored second-precision form. */
function normalizeSince(since: string): string {
  const ms = Date.parse(since);
  return Number.isNaN(ms) ? since : iso(ms);
}

function validateIssue(body: Record<string, unknown>, create: boolean): string | undefined {
  if (create && (body.title === undefined || body.title === null)) {
    return 'Invalid request.\n\n"title" wasn\'t supplied.';
  }
  if (body.title !== undefined && (typeof body.title !== 'string' || !body.title.trim())) {
    return 'Invalid request.\n\nFor \'properties/title\', "" is not a valid value.';
  }
  if (body.state !== undefined && body.state !== 'open' && body.state !== 'closed') {
    return `Validation Failed: state is not included in the list (${String(body.state)})`;
  }
  if (
    body.state_reason !== undefined &&
    body.state_reason !== null &&
    !['completed', 'not_planned', 'reopened'].includes(body.state_reason as string)
  ) {
    return `Validation Failed: state_reason is not included in the list (${String(body.state_reason)})`;
  }
  if (body.labels !== undefined && !Array.isArray(body.labels))
    return 'Invalid request.\n\n"labels" is not an array.';
  if (body.assignees !== undefined && !Array.isArray(body.assignees)) {
    return 'Invalid request.\n\n"assignees" is not an array.';
  }
  return undefined;
}

let labelId = 5_000_000;

/** Applies a create/update body the way GitHub does, and bumps updated_at. */
function applyIssue(issue: FakeIssue, body: Record<string, unknown>, at: number): void {
  if (typeof body.title === 'string') issue.title = body.title;
  if (body.body !== undefined) issue.body = (body.body as string | null) ?? null;
  if (body.assignees !== undefined) {
    issue.assignees = (body.assignees as string[]).map(user);
    issue.assignee = issue.assignees[0] ?? null;
  } else if (body.assignee !== undefined) {
    issue.assignee = body.assignee ? user(body.assignee as string) : null;
    issue.assignees = issue.assignee ? [issue.assignee] : [];
  }
  if (body.labels !== undefined) {
    issue.labels = (body.labels as unknown[]).map((l) => ({
      id: labelId++,
      name: typeof l === 'string' ? l : String((l as { name?: unknown })?.name ?? ''),
      color: 'ededed',
      default: false,
      description: null,
    }));
  }
  if (body.state !== undefined && body.state !== issue.state) {
    issue.state = body.state as FakeIssue['state'];
    issue.closed_at = issue.state === 'closed' ? iso(at) : null;
    issue.state_reason =
      issue.state === 'closed'
        ? ((body.state_reason as FakeIssue['state_reason']) ?? 'completed')
        : ((body.state_reason as FakeIssue['state_reason']) ?? 'reopened');
  } else if (body.state_reason !== undefined && issue.state === 'closed') {
    issue.state_reason = body.state_reason as FakeIssue['state_reason'];
  }
  issue.updated_at = iso(at);
}

/** Unused codes and refresh tokens, with the scope granted. */
const codes = new Map<string, string>();
const refreshTokens = new Map<string, string>();

/** GitHub's OAuth web flow, answered at once (see `FakeGitHubOptions.oauth`). */
function oauthFlow(url: URL, method: string, raw: string, res: ServerResponse, tokens: Set<string>) {
  const json = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  if (method === 'GET' && url.pathname === '/login/oauth/authorize') {
    const redirect = url.searchParams.get('redirect_uri');
    if (!redirect || !url.searchParams.get('client_id')) return json(400, { error: 'invalid_request' });
    const back = new URL(redirect);
    const code = randomBytes(10).toString('hex');
    codes.set(code, url.searchParams.get('scope') ?? '');
    back.searchParams.set('code', code);
    const state = url.searchParams.get('state');
    if (state) back.searchParams.set('state', state);
    res.writeHead(302, { location: back.href });
    return res.end();
  }
  if (method === 'POST' && url.pathname === '/login/oauth/access_token') {
    const form = raw.trim().startsWith('{')
      ? new URLSearchParams(JSON.parse(raw) as Record<string, string>)
      : new URLSearchParams(raw);
    const grant = form.get('grant_type') ?? 'authorization_code';
    const presented = grant === 'refresh_token' ? form.get('refresh_token') : form.get('code');
    const pool = grant === 'refresh_token' ? refreshTokens : codes;
    const scope = presented ? pool.get(presented) : undefined;
    // GitHub answers a bad code with 200 and an error body.
    if (!presented || scope === undefined || !pool.delete(presented)) {
      return json(200, { error: grant === 'refresh_token' ? 'bad_refresh_token' : 'bad_verification_code' });
    }
    const access = `gho_${randomBytes(18).toString('base64url')}`;
    const refresh = `ghr_${randomBytes(30).toString('base64url')}`;
    tokens.add(access);
    refreshTokens.set(refresh, scope);
    return json(200, {
      access_token: access,
      token_type: 'bearer',
      scope: scope.replaceAll(' ', ','),
      expires_in: 28_800,
      refresh_token: refresh,
      refresh_token_expires_in: 15_897_600,
    });
  }
  return json(404, { message: 'Not Found', documentation_url: DOCS });
}
