/**
 * The GitHub sync adapter: a repository's issues, pull requests or issue comments, through the
 * REST API below the app's `api_base_url` (`https://api.github.com`).
 *
 * Listing: `GET /repos/{owner}/{repo}/issues?state=all&sort=updated&direction=asc&per_page=100`
 * (`since` for an incremental run; GitHub returns records updated at or after it), paged by keyset:
 * the next page is listed `since` the last record's second (see {@link ListCursor}); the `Link`
 * header's `rel="next"` URL (absolute, on the API's origin; GitHub names the repository by id
 * there) says whether there is a next page, and is followed only when a whole page shares one
 * second. The issues endpoint returns pull requests too, told apart by their
 * `pull_request` key, so an issues binding skips them and a pull-requests binding keeps only them.
 * The first page of an incremental listing is a conditional GET: a repository unchanged since the
 * checkpoint answers 304, which costs no quota. A full listing (no checkpoint) is never conditional.
 *
 * GitHub cannot delete an issue or pull request through the REST API: deleting one closes it as
 * `not_planned`. An issue deleted on GitHub answers 410, a transferred one 301: both are `gone`.
 *
 * Rate limits follow docs.github.com "Rate limits for the REST API": a 403 or 429 with
 * `retry-after` waits that long; with `x-ratelimit-remaining: 0` until `x-ratelimit-reset`; with
 * a secondary-limit message at least a minute, doubling per consecutive answer. A 403 that is none
 * of these is a permission problem, returned to the caller.
 */
import * as v from 'valibot';
import { refine } from '#shared/validation.ts';
import {
  type AdapterContext,
  type ChangePage,
  type ExternalRecord,
  type MalformedRecord,
  ProviderCallError,
  type ProviderResponse,
  type RateLimitDecision,
  type Resource,
  type SyncAdapter,
} from '../adapter.ts';
import type { FieldDef, FieldValues } from '../fields.ts';

export const GITHUB_REPOSITORY_TYPE = 'github_repository';
export const GITHUB_PAGE_SIZE = 100;
/** Secondary limit without `retry-after`: at least a minute, doubling per attempt, capped. */
export const GITHUB_SECONDARY_BASE_MS = 60_000;
export const GITHUB_SECONDARY_MAX_MS = 15 * 60_000;

const HEADERS = { accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28' };

export type GitHubKind = 'issues' | 'pull_requests' | 'issue_comments';

export const githubLocator = v.strictObject(
  v.object({
    type: v.literal(GITHUB_REPOSITORY_TYPE),
    owner: v.pipe(
      v.string(),
      v.regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/, 'a GitHub user or organization name'),
      v.description('Owner of the repository (user or organization)'),
    ),
    repo: v.pipe(
      v.string(),
      v.regex(/^[A-Za-z0-9._-]{1,100}$/, 'a GitHub repository name'),
      refine((r) => r !== '.' && r !== '..', 'a GitHub repository name'),
      v.description('Repository name'),
    ),
    kind: v.pipe(
      v.picklist(['issues', 'pull_requests', 'issue_comments']),
      v.description('What the binding syncs'),
    ),
  }).entries,
);

type GitHubResource = v.InferOutput<typeof githubLocator>;

const dt = (name: string, description: string): FieldDef => ({
  name,
  type: 'datetime',
  description,
  read_only: true,
});

const issueFields: FieldDef[] = [
  { name: 'number', type: 'number', description: 'Issue number', read_only: true, required: true },
  { name: 'title', type: 'string', description: 'Title', required: true },
  { name: 'body', type: 'text', description: 'Markdown body (null when empty)' },
  { name: 'state', type: 'enum', values: ['open', 'closed'], description: 'open or closed', required: true },
  {
    name: 'state_reason',
    type: 'enum',
    values: ['completed', 'not_planned', 'reopened'],
    description: 'Why it was closed or reopened (null otherwise)',
    read_only: true,
  },
  { name: 'assignee', type: 'user', description: 'Login of the (first) assignee' },
  { name: 'labels', type: 'string[]', description: 'Label names' },
  dt('milestone_due_on', 'Due date of its milestone (null without one)'),
  { name: 'user', type: 'user', description: 'Login of the author', read_only: true },
  dt('created_at', 'Creation time'),
  dt('updated_at', 'Last change'),
  { name: 'html_url', type: 'string', description: 'Link on github.com', read_only: true },
];

const pullFields: FieldDef[] = [
  ...issueFields.map((f) => (f.name === 'number' ? { ...f, description: 'Pull request number' } : f)),
  { name: 'draft', type: 'boolean', description: 'Whether it is a draft', read_only: true },
];

const commentFields: FieldDef[] = [
  { name: 'body', type: 'text', description: 'Markdown body', required: true },
  { name: 'user', type: 'user', description: 'Login of the author', read_only: true },
  {
    name: 'issue_number',
    type: 'number',
    description: 'Number of the commented issue or pull request: required on create, fixed afterwards',
    required: true,
  },
  dt('created_at', 'Creation time'),
  dt('updated_at', 'Last change'),
  { name: 'html_url', type: 'string', description: 'Link on github.com', read_only: true },
];

/** Fields an update may send, per kind (the rest are read-only or fixed). */
const WRITABLE_ISSUE = ['title', 'body', 'state', 'assignee', 'labels'] as const;

const asGitHub = (resource: Resource) => resource as GitHubResource;
const repoPath = (r: GitHubResource) => `/repos/${encodeURIComponent(r.owner)}/${encodeURIComponent(r.repo)}`;

/** The `rel="next"` URL of a `Link` header (RFC 8288, as GitHub writes it), or undefined. */
export function nextLink(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (!m) continue;
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(m[2] ?? '');
    const rels = (rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/);
    if (rels.includes('next')) return m[1];
  }
  return undefined;
}

/**
 * The marker of a record the sync creates: an HTML comment at the end of its body (GitHub does not
 * render it), so an interrupted creation can be found again (`findCreated`). Reading a body drops
 * it, so it never reaches PronaFlow nor the echo hashes.
 */
const markerTag = (marker: string) => `<!-- pronaflow:${marker} -->`;
const MARKER_TAIL = /\s*<!-- pronaflow:[A-Za-z0-9_.:-]{1,200} -->\s*$/;
const withMarker = (body: string | null | undefined, marker: string | undefined) => {
  if (marker === undefined || !/^[A-Za-z0-9_.:-]{1,200}$/.test(marker)) return body;
  return body ? `${body}\n\n${markerTag(marker)}` : markerTag(marker);
};
/** A body as read: without the sync's marker (a body that was only the marker is empty). */
const bodyOf = (v: unknown): string | null => {
  if (typeof v !== 'string') return null;
  if (!MARKER_TAIL.test(v)) return v;
  const stripped = v.replace(MARKER_TAIL, '');
  return stripped === '' ? null : stripped;
};

const ok = (res: ProviderResponse) => res.status >= 200 && res.status < 300;
const obj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown) => (typeof v === 'string' ? v : null);
const login = (v: unknown) => (obj(v) ? str(v.login) : null);

/** A message of GitHub's error body, bounded, for errors the run records. */
function messageOf(res: ProviderResponse): string {
  const m = obj(res.json) ? str(res.json.message) : null;
  return (m ?? res.text ?? '').replace(/\s+/g, ' ').slice(0, 300);
}

/**
 * The error of a failed write or read: a 400 or 422 (GitHub refused this record's values) affects
 * only the record; anything else (permissions, a missing repository, a GitHub outage) the run.
 */
function failure(
  what: string,
  res: ProviderResponse,
  recordLevel = res.status === 400 || res.status === 422,
) {
  return new ProviderCallError(
    `${what}: GitHub answered ${res.status} (${messageOf(res)})`,
    res.status,
    recordLevel,
  );
}

type Parsed = { record: ExternalRecord; pull: boolean } | { malformed: MalformedRecord };

/** Reads one item of the issues endpoint (an issue or a pull request). */
function readIssue(item: unknown): Parsed {
  if (!obj(item)) return { malformed: { externalId: null, error: 'The item is not an object' } };
  const number = item.number;
  const id = Number.isSafeInteger(number) && (number as number) > 0 ? String(number) : null;
  if (!id) return { malformed: { externalId: null, error: 'The item has no issue number' } };
  if (typeof item.title !== 'string')
    return { malformed: { externalId: id, error: 'The item has no title' } };
  const updatedAt = str(item.updated_at);
  if (!updatedAt || Number.isNaN(Date.parse(updatedAt))) {
    return { malformed: { externalId: id, error: 'The item has no valid updated_at' } };
  }
  const pull = item.pull_request !== undefined && item.pull_request !== null;
  const labels = Array.isArray(item.labels)
    ? item.labels
        .map((l) => (typeof l === 'string' ? l : obj(l) ? str(l.name) : null))
        .filter((l) => l !== null)
    : [];
  const fields: FieldValues = {
    number,
    title: item.title,
    body: bodyOf(item.body),
    state: item.state === 'closed' ? 'closed' : 'open',
    state_reason: str(item.state_reason),
    assignee: login(item.assignee) ?? (Array.isArray(item.assignees) ? login(item.assignees[0]) : null),
    labels,
    milestone_due_on: obj(item.milestone) ? str(item.milestone.due_on) : null,
    user: login(item.user),
    created_at: str(item.created_at),
    updated_at: updatedAt,
    html_url: str(item.html_url),
    ...(pull ? { draft: item.draft === true } : {}),
  };
  return {
    record: { id, updatedAt, fields, ...(fields.html_url ? { url: fields.html_url as string } : {}) },
    pull,
  };
}

/** Reads one issue comment; its issue number comes from `issue_url` (`…/issues/{n}`). */
function readComment(item: unknown): Parsed {
  if (!obj(item)) return { malformed: { externalId: null, error: 'The item is not an object' } };
  const id = Number.isSafeInteger(item.id) && (item.id as number) > 0 ? String(item.id) : null;
  if (!id) return { malformed: { externalId: null, error: 'The comment has no id' } };
  const updatedAt = str(item.updated_at);
  if (!updatedAt || Number.isNaN(Date.parse(updatedAt))) {
    return { malformed: { externalId: id, error: 'The comment has no valid updated_at' } };
  }
  const issue = /\/issues\/(\d+)$/.exec(str(item.issue_url) ?? '');
  if (!issue) return { malformed: { externalId: id, error: 'The comment has no issue_url' } };
  const fields: FieldValues = {
    body: bodyOf(item.body) ?? '',
    user: login(item.user),
    issue_number: Number(issue[1]),
    created_at: str(item.created_at),
    updated_at: updatedAt,
    html_url: str(item.html_url),
  };
  return {
    record: { id, updatedAt, fields, ...(fields.html_url ? { url: fields.html_url as string } : {}) },
    pull: false,
  };
}

const isComments = (r: GitHubResource) => r.kind === 'issue_comments';
const wantsPull = (r: GitHubResource) => r.kind === 'pull_requests';

/** The record of a write's answer, or a record-level error when GitHub answered something unreadable. */
function recordOf(r: GitHubResource, res: ProviderResponse, what: string): ExternalRecord {
  const parsed = isComments(r) ? readComment(res.json) : readIssue(res.json);
  if ('malformed' in parsed) {
    throw new ProviderCallError(
      `${what}: GitHub's answer is unreadable (${parsed.malformed.error})`,
      res.status,
      true,
    );
  }
  return parsed.record;
}

/** The PATCH/POST body of an issue or pull request from catalog fields (writable ones only). */
function issueBody(fields: FieldValues, create: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const name of WRITABLE_ISSUE) {
    if (!(name in fields) || fields[name] === undefined) continue;
    const v = fields[name];
    if (name === 'assignee') body.assignees = v ? [String(v)] : [];
    else if (name === 'labels') body.labels = Array.isArray(v) ? v.map(String) : [];
    else if (name === 'state') {
      // GitHub creates issues open; a closed one is closed by a second call.
      if (!create) body.state = v;
    } else body[name] = v;
  }
  return body;
}

const gone = (res: ProviderResponse) => res.status === 404 || res.status === 410 || res.status === 301;

async function getIssue(ctx: AdapterContext, r: GitHubResource, id: string) {
  return ctx.http.request({ path: `${repoPath(r)}/issues/${id}`, headers: HEADERS });
}

async function patchIssue(ctx: AdapterContext, r: GitHubResource, id: string, body: Record<string, unknown>) {
  return ctx.http.request({ method: 'PATCH', path: `${repoPath(r)}/issues/${id}`, body, headers: HEADERS });
}

/**
 * Keyset paging of a listing (`sort=updated&direction=asc`): GitHub's offset pages shift when a
 * record changes between two pages (it moves to the end, and the record after the boundary slides
 * onto a page already read, never to be listed). So the next page asks again `since` the last
 * record's `updated_at` second (inclusive), dropping the records of that second this listing has
 * had (their ids ride in the cursor). Only when a whole page shares one second (keyset paging
 * cannot move on) does the next page follow GitHub's `Link` URL (offset paging within that
 * `since`). The cursor is opaque to the engine and bounded (at most a page of ids and one URL).
 */
interface ListCursor {
  /** The boundary second (`YYYY-MM-DDTHH:MM:SSZ`): the next page lists from it. */
  since: string;
  /** Ids of the boundary second's records already listed. */
  seen: string[];
  /** Offset fallback: GitHub's next page URL within `since`. */
  link?: string;
}

const CURSOR_PREFIX = 'ks1.';
/** Bounds a cursor (a page of ids is about 1 KB; a Link URL well under 1 KB). */
const MAX_CURSOR_CHARS = 8192;

const secondOf = (iso: string) =>
  `${new Date(Math.floor(Date.parse(iso) / 1000) * 1000).toISOString().slice(0, 19)}Z`;

/** Where an item stands in the listing's order (its id and `updated_at` second), when it says. */
function placeOf(r: GitHubResource, item: unknown): { id: string; second: string } | undefined {
  if (!obj(item)) return undefined;
  const key = isComments(r) ? item.id : item.number;
  const updatedAt = str(item.updated_at);
  if (!Number.isSafeInteger(key) || !updatedAt || Number.isNaN(Date.parse(updatedAt))) return undefined;
  return { id: String(key), second: secondOf(updatedAt) };
}

function readCursor(cursor: string): ListCursor {
  // A cursor of an earlier version (a run saved mid-way): GitHub's Link URL itself.
  if (!cursor.startsWith(CURSOR_PREFIX)) return { since: '', seen: [], link: cursor };
  try {
    const parsed = JSON.parse(Buffer.from(cursor.slice(CURSOR_PREFIX.length), 'base64url').toString('utf8'));
    if (
      obj(parsed) &&
      typeof parsed.s === 'string' &&
      !Number.isNaN(Date.parse(parsed.s)) &&
      Array.isArray(parsed.x) &&
      parsed.x.every((x) => typeof x === 'string') &&
      (parsed.l === undefined || typeof parsed.l === 'string')
    ) {
      return { since: parsed.s, seen: parsed.x as string[], ...(parsed.l ? { link: parsed.l } : {}) };
    }
  } catch {
    // Not ours: refused below.
  }
  throw new ProviderCallError('The listing cursor is not readable', undefined, false);
}

function writeCursor(c: ListCursor): string {
  const out = `${CURSOR_PREFIX}${Buffer.from(JSON.stringify({ s: c.since, x: c.seen, ...(c.link ? { l: c.link } : {}) })).toString('base64url')}`;
  if (out.length > MAX_CURSOR_CHARS)
    throw new ProviderCallError('The listing cursor outgrew its bound', undefined, false);
  return out;
}

/** The seconds a page's placed items span (in order), and the ids of its last second. */
interface PageSpan {
  first: string | null;
  last: string | null;
  lastIds: string[];
}

/** The cursor of the page after this one, which had GitHub's `link` as its next page. */
function nextCursor(at: ListCursor | undefined, span: PageSpan, link: string): string {
  if (span.last && span.first !== span.last) return writeCursor({ since: span.last, seen: span.lastIds });
  // The whole page is in one second (keyset paging would list it again), or places nothing:
  // GitHub's next page of this listing, still dropping that second's records seen so far.
  if (span.last)
    return writeCursor({ since: span.last, seen: span.lastIds.slice(0, GITHUB_PAGE_SIZE), link });
  return at?.since ? writeCursor({ since: at.since, seen: at.seen, link }) : link;
}

export const githubAdapter: SyncAdapter = {
  id: 'github',
  resourceTypes: [
    {
      type: GITHUB_REPOSITORY_TYPE,
      description:
        'A GitHub repository: its issues, its pull requests (title, body, state, assignee and labels; GitHub cannot create them from a task) or its issue comments. Deleting closes an issue as not planned (GitHub cannot delete through its API).',
      locator: githubLocator,
      variants: [
        {
          kind: 'issues',
          entity: 'task',
          fields: issueFields,
          writable: { create: true, update: true, delete: true },
        },
        {
          kind: 'pull_requests',
          entity: 'task',
          fields: pullFields,
          writable: { create: false, update: true, delete: true },
        },
        {
          kind: 'issue_comments',
          entity: 'comment',
          fields: commentFields,
          writable: { create: true, update: true, delete: true },
          // Inbound the comment's parent_external_id; outbound set from its task's link.
          parentField: 'issue_number',
        },
      ],
    },
  ],

  resourceKey(resource) {
    const r = asGitHub(resource);
    return `${r.owner}/${r.repo}#${r.kind}`.toLowerCase();
  },

  parentResourceKey(resource) {
    const r = asGitHub(resource);
    return `${r.owner}/${r.repo}`.toLowerCase();
  },

  async listChanges(ctx, resource, state): Promise<ChangePage> {
    const r = asGitHub(resource);
    const first = state.cursor === undefined;
    const at = first ? undefined : readCursor(state.cursor as string);
    // A keyset page asks again from its boundary second; a fallback page follows GitHub's Link.
    const since = at?.link ? undefined : (at?.since ?? state.since);
    const res = await ctx.http.request({
      path: at?.link ?? `${repoPath(r)}/issues${isComments(r) ? '/comments' : ''}`,
      query: at?.link
        ? undefined
        : {
            ...(isComments(r) ? {} : { state: 'all' }),
            sort: 'updated',
            direction: 'asc',
            per_page: GITHUB_PAGE_SIZE,
            since,
          },
      headers: HEADERS,
      // The first page of an incremental listing only: a 304 then means nothing changed since the
      // checkpoint. A full listing is never conditional (it is how deletions are seen), and
      // provider-http keeps no ETag of a page that has a next one.
      etagKey: first && state.since ? `${githubAdapter.resourceKey(r)}|${state.since}` : undefined,
    });
    if (res.status === 304) return { records: [], malformed: [], notModified: true };
    if (res.status === 404 || res.status === 410 || res.status === 301) {
      throw failure(`The repository ${r.owner}/${r.repo} cannot be read`, res, false);
    }
    if (!ok(res)) throw failure(`Listing ${r.owner}/${r.repo} ${r.kind}`, res, false);
    if (!Array.isArray(res.json)) {
      throw new ProviderCallError(
        `Listing ${r.owner}/${r.repo} ${r.kind}: the answer is not a list`,
        res.status,
      );
    }
    const page: ChangePage = { records: [], malformed: [] };
    const boundary = at?.since ?? null;
    const seen = new Set(at?.seen ?? []);
    const span: PageSpan = { first: null, last: null, lastIds: [] };
    for (const item of res.json) {
      const place = placeOf(r, item);
      if (place) {
        span.first ??= place.second;
        if (span.last !== place.second) {
          span.last = place.second;
          span.lastIds = [];
        }
        span.lastIds.push(place.id);
        // Before the cursor (GitHub's `since` is inclusive): the boundary second's records this
        // listing has had already, and anything older, are not listed twice.
        if (boundary && (place.second < boundary || (place.second === boundary && seen.has(place.id))))
          continue;
      } else if (!first) {
        // An item without a place in the order is reported once, on the listing's first page.
        continue;
      }
      const parsed = isComments(r) ? readComment(item) : readIssue(item);
      if ('malformed' in parsed) {
        page.malformed.push(parsed.malformed);
        continue;
      }
      // Records of the other kind count for the checkpoint (they were seen), not as changes.
      if (!page.checkpoint || parsed.record.updatedAt > page.checkpoint)
        page.checkpoint = parsed.record.updatedAt;
      if (!isComments(r) && parsed.pull !== wantsPull(r)) continue;
      page.records.push(parsed.record);
    }
    const next = nextLink(res.headers.link);
    if (next) page.next = nextCursor(at, span, next);
    return page;
  },

  async fetchRecord(ctx, resource, id) {
    const r = asGitHub(resource);
    if (!/^\d{1,18}$/.test(id)) return 'gone';
    const res = isComments(r)
      ? await ctx.http.request({ path: `${repoPath(r)}/issues/comments/${id}`, headers: HEADERS })
      : await getIssue(ctx, r, id);
    if (gone(res)) return 'gone';
    if (!ok(res)) throw failure(`Reading ${r.kind} ${id} of ${r.owner}/${r.repo}`, res, false);
    const parsed = isComments(r) ? readComment(res.json) : readIssue(res.json);
    if ('malformed' in parsed) {
      throw new ProviderCallError(
        `Reading ${id}: GitHub's answer is unreadable (${parsed.malformed.error})`,
        res.status,
        true,
      );
    }
    // A pull request read through an issues binding (or the reverse) is not this binding's record.
    if (!isComments(r) && parsed.pull !== wantsPull(r)) return 'gone';
    return parsed.record;
  },

  async createRecord(ctx, resource, fields, marker) {
    const r = asGitHub(resource);
    if (isComments(r)) {
      const n = Number(fields.issue_number);
      if (!Number.isSafeInteger(n) || n <= 0) {
        throw new ProviderCallError('A comment needs the issue_number of its issue', undefined, true);
      }
      const res = await ctx.http.request({
        method: 'POST',
        path: `${repoPath(r)}/issues/${n}/comments`,
        body: { body: withMarker(String(fields.body ?? ''), marker) ?? '' },
        headers: HEADERS,
      });
      if (res.status === 404 || res.status === 410) {
        throw failure(`Commenting on #${n} of ${r.owner}/${r.repo}`, res, true);
      }
      if (res.status !== 201) throw failure(`Commenting on #${n} of ${r.owner}/${r.repo}`, res);
      return recordOf(r, res, 'Creating a comment');
    }
    if (wantsPull(r)) {
      throw new ProviderCallError('GitHub cannot create a pull request from a task', undefined, true);
    }
    const body = issueBody(fields, true);
    const marked = withMarker(body.body as string | null | undefined, marker);
    if (marked !== undefined && marked !== null) body.body = marked;
    const res = await ctx.http.request({
      method: 'POST',
      path: `${repoPath(r)}/issues`,
      body,
      headers: HEADERS,
    });
    if (res.status !== 201) throw failure(`Creating an issue in ${r.owner}/${r.repo}`, res);
    // Only the POST: GitHub creates issues open, and the engine closes a closed one afterwards.
    return recordOf(r, res, 'Creating an issue');
  },

  async findCreated(ctx, resource, marker, since) {
    const r = asGitHub(resource);
    if (wantsPull(r)) return undefined;
    // The newest records first; `since` (updated at or after) bounds the page to recent ones.
    const res = await ctx.http.request({
      path: `${repoPath(r)}/issues${isComments(r) ? '/comments' : ''}`,
      query: {
        ...(isComments(r) ? {} : { state: 'all' }),
        sort: 'created',
        direction: 'desc',
        per_page: GITHUB_PAGE_SIZE,
        since,
      },
      headers: HEADERS,
    });
    if (!ok(res)) throw failure(`Looking for a record created in ${r.owner}/${r.repo}`, res, false);
    if (!Array.isArray(res.json)) return undefined;
    const tag = markerTag(marker);
    for (const item of res.json) {
      if (!obj(item) || typeof item.body !== 'string' || !item.body.includes(tag)) continue;
      const parsed = isComments(r) ? readComment(item) : readIssue(item);
      if ('record' in parsed && (isComments(r) || !parsed.pull)) return parsed.record;
    }
    return undefined;
  },

  async updateRecord(ctx, resource, id, fields) {
    const r = asGitHub(resource);
    if (!/^\d{1,18}$/.test(id)) throw new ProviderCallError(`No record ${id} on GitHub`, undefined, true);
    if (isComments(r)) {
      if (fields.body === undefined) return fetchOrFail(ctx, r, id);
      const res = await ctx.http.request({
        method: 'PATCH',
        path: `${repoPath(r)}/issues/comments/${id}`,
        body: { body: String(fields.body ?? '') },
        headers: HEADERS,
      });
      if (!ok(res))
        throw failure(`Updating comment ${id}`, res, res.status === 400 || res.status === 422 || gone(res));
      return recordOf(r, res, `Updating comment ${id}`);
    }
    const body = issueBody(fields, false);
    if (!Object.keys(body).length) return fetchOrFail(ctx, r, id);
    const res = await patchIssue(ctx, r, id, body);
    if (!ok(res))
      throw failure(`Updating #${id}`, res, res.status === 400 || res.status === 422 || gone(res));
    return recordOf(r, res, `Updating #${id}`);
  },

  async deleteRecord(ctx, resource, id) {
    const r = asGitHub(resource);
    if (!/^\d{1,18}$/.test(id)) return;
    const res = isComments(r)
      ? await ctx.http.request({
          method: 'DELETE',
          path: `${repoPath(r)}/issues/comments/${id}`,
          headers: HEADERS,
        })
      : await patchIssue(ctx, r, id, { state: 'closed', state_reason: 'not_planned' });
    // Already gone there: nothing left to delete.
    if (ok(res) || gone(res)) return;
    throw failure(`Deleting ${isComments(r) ? 'comment' : '#'}${id}`, res);
  },

  rateLimit(res, now, attempt): RateLimitDecision | undefined {
    if (res.status !== 403 && res.status !== 429) return undefined;
    const retryAfter = res.headers['retry-after'];
    if (retryAfter !== undefined) {
      const seconds = Number(retryAfter);
      const at = Date.parse(retryAfter);
      if (Number.isFinite(seconds) && seconds >= 0) return { waitMs: seconds * 1000, kind: 'retry_after' };
      if (!Number.isNaN(at)) return { waitMs: Math.max(0, at - now.getTime()), kind: 'retry_after' };
    }
    if (res.headers['x-ratelimit-remaining'] === '0') {
      const reset = Number(res.headers['x-ratelimit-reset']);
      const waitMs = Number.isFinite(reset) ? reset * 1000 + 1000 - now.getTime() : GITHUB_SECONDARY_BASE_MS;
      return { waitMs: Math.max(1000, waitMs), kind: 'primary' };
    }
    // A 429 is a rate limit whatever its body; a 403 only when GitHub says it is a secondary limit.
    if (res.status === 429 || /secondary rate limit|abuse detection/i.test(messageOf(res))) {
      const waitMs = Math.min(GITHUB_SECONDARY_BASE_MS * 2 ** Math.min(attempt, 10), GITHUB_SECONDARY_MAX_MS);
      return { waitMs, kind: 'secondary' };
    }
    return undefined;
  },
};

async function fetchOrFail(ctx: AdapterContext, r: GitHubResource, id: string): Promise<ExternalRecord> {
  const record = await githubAdapter.fetchRecord(ctx, r, id);
  if (record === 'gone')
    throw new ProviderCallError(`#${id} is no longer in ${r.owner}/${r.repo}`, 404, true);
  return record;
}
