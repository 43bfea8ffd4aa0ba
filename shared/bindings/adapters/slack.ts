/**
 * The Slack sync adapter: a request channel whose top-level messages are PronaFlow tasks.
 *
 * Slack's Web API answers most errors with HTTP 200 and `{ ok: false, error }`, pages by a body
 * cursor (`response_metadata.next_cursor`), lists newest first and identifies a message by its
 * channel-unique `ts` ("1712345678.000200"), which also serves as the checkpoint: everything here
 * differs from GitHub's REST API, and the engine sees none of it.
 *
 * What an incremental run can see: without the Events API, `conversations.history?oldest=<ts>`
 * lists the messages posted after the checkpoint, and nothing else. Edits and deletions of older
 * messages do not move them past the checkpoint (Slack keeps a message at its original `ts`), so
 * they are seen by full runs only: a full listing returns every message as it stands (an edit as
 * a newer `updatedAt`, from `edited.ts`), and the engine compares the set it saw with the set it
 * holds to find deletions (a deleted message simply vanishes from history, except a thread parent,
 * which Slack replaces by a `tombstone` that this adapter reports as `deleted`).
 *
 * The checkpoint is a message ts as Slack gives it (10-digit seconds, 6-digit fraction), so the
 * engine's string comparison of checkpoints orders them as numbers.
 *
 * Calls are Slack methods below the app's `api_base_url` (`https://slack.com/api`): reads are
 * GET with a query, writes are POST with a JSON body (Slack accepts JSON for chat.* methods).
 * Scopes needed: `channels:history` (or `groups:history` for private channels) and `chat:write`.
 */
import * as v from 'valibot';
import {
  type AdapterContext,
  type ChangePage,
  ConnectionRejected,
  type ExternalRecord,
  type MalformedRecord,
  ProviderCallError,
  type ProviderResponse,
  type RateLimitDecision,
  type Resource,
  type SyncAdapter,
} from '../adapter.ts';
import type { FieldDef, FieldValues } from '../fields.ts';

export const SLACK_CHANNEL_TYPE = 'slack_channel';

/** Messages per history page (Slack allows up to 999 and recommends no more than 200). */
export const SLACK_PAGE_SIZE = 200;

/** Back-off of a 429 that names no `Retry-After`: 30 s, doubled per consecutive answer, capped. */
export const SLACK_BACKOFF_BASE_MS = 30_000;
export const SLACK_BACKOFF_MAX_MS = 5 * 60_000;

/** `error` values that mean the token was refused: the client refreshes it once and retries. */
export const SLACK_AUTH_ERRORS: ReadonlySet<string> = new Set([
  'invalid_auth',
  'not_authed',
  'token_revoked',
  'token_expired',
  'account_inactive',
]);

/**
 * `error` values about the channel or the grant, not one message: the run fails with them
 * whatever the operation (every other record would fail the same way).
 */
export const SLACK_RUN_ERRORS: ReadonlySet<string> = new Set([
  'channel_not_found',
  'not_in_channel',
  'missing_scope',
  'is_archived',
  'channel_is_archived',
  'no_permission',
  'restricted_action',
  'team_access_not_granted',
  'ekm_access_denied',
  'access_denied',
  'org_login_required',
  'enterprise_is_restricted',
  'invalid_cursor',
]);

/** `error` values about one message: the record fails, the run goes on. */
export const SLACK_RECORD_ERRORS: ReadonlySet<string> = new Set([
  'message_not_found',
  'cant_update_message',
  'cant_delete_message',
  'edit_window_closed',
  'msg_too_long',
  'no_text',
  'msg_blocks_too_long',
  'invalid_blocks',
  'too_many_attachments',
  'compliance_exports_prevent_deletion',
]);

/**
 * Subtypes of messages that are tasks: ordinary messages (no subtype), bot messages (ours
 * included), `/me` messages and file shares. Every other subtype (`channel_join`,
 * `channel_topic`, `pinned_item`…) is an event of the channel, not a request, and is skipped.
 */
const TASK_SUBTYPES: ReadonlySet<string | undefined> = new Set([
  undefined,
  'bot_message',
  'me_message',
  'file_share',
]);

const TS = /^\d{1,12}\.\d{1,9}$/;

export const slackChannelLocator = v.strictObject(
  v.object({
    type: v.literal(SLACK_CHANNEL_TYPE),
    // Some stored bindings carry the kind explicitly; Slack channels have one kind only.
    kind: v.optional(v.literal('default')),
    channel: v.pipe(
      v.string(),
      v.regex(/^[CG][A-Z0-9]{6,20}$/, 'must be a Slack channel id (C… or G…, e.g. C0123456789)'),
    ),
  }).entries,
);

export const slackMessageFields: FieldDef[] = [
  {
    name: 'ts',
    type: 'string',
    description: "The message's Slack timestamp, its id in the channel (`1712345678.000200`)",
    read_only: true,
    required: true,
  },
  { name: 'text', type: 'text', description: 'Message text (Slack mrkdwn)', required: true },
  {
    name: 'user',
    type: 'user',
    description: 'Slack user id of the author (`U…`), or the bot id (`B…`) of a bot message',
    read_only: true,
  },
  {
    name: 'edited_at',
    type: 'datetime',
    description: 'When the message was last edited (from `edited.ts`); null if never',
    read_only: true,
  },
  {
    name: 'reply_count',
    type: 'number',
    description: 'Replies in the thread of the message',
    read_only: true,
  },
  {
    name: 'reactions',
    type: 'string[]',
    description: 'Names of the emoji reactions on the message (`eyes`, `white_check_mark`)',
    read_only: true,
  },
];

type SlackBody = Record<string, unknown> & { ok?: unknown; error?: unknown };

/** Our cursor between pages: Slack's cursor (or a `latest` bound) and the newest ts seen so far. */
interface SlackCursor {
  /** Slack's `next_cursor`. */
  c?: string;
  /** Fallback when Slack says `has_more` without a cursor: the next page ends before this ts. */
  l?: string;
  /** The newest message ts seen in this listing (the checkpoint carried over pages). */
  n?: string;
}

/** Compares two Slack timestamps numerically (seconds, then the fraction as digits). */
export function compareSlackTs(a: string, b: string): number {
  const [as = '0', af = ''] = a.split('.');
  const [bs = '0', bf = ''] = b.split('.');
  const width = Math.max(af.length, bf.length);
  const x = BigInt(as) * 10n ** BigInt(width) + BigInt(af.padEnd(width, '0') || '0');
  const y = BigInt(bs) * 10n ** BigInt(width) + BigInt(bf.padEnd(width, '0') || '0');
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A Slack ts as an ISO 8601 timestamp (millisecond precision; the fraction is microseconds). */
export function slackTsToIso(ts: string): string {
  const [sec = '0', frac = ''] = ts.split('.');
  const micros = Number(frac.padEnd(6, '0').slice(0, 6));
  return new Date(Number(sec) * 1000 + Math.floor(micros / 1000)).toISOString();
}

const isTs = (v: unknown): v is string => typeof v === 'string' && TS.test(v);
const maxTs = (a: string | undefined, b: string | undefined) =>
  a === undefined ? b : b === undefined ? a : compareSlackTs(a, b) >= 0 ? a : b;

function channelOf(resource: Resource): string {
  const channel = resource.channel;
  if (typeof channel !== 'string' || channel === '') {
    throw new ProviderCallError('The binding names no Slack channel', undefined);
  }
  return channel;
}

function encodeCursor(c: SlackCursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

function decodeCursor(raw: string): SlackCursor {
  try {
    const parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as unknown;
    if (parsed && typeof parsed === 'object') {
      const { c, l, n } = parsed as Record<string, unknown>;
      return {
        ...(typeof c === 'string' && c ? { c } : {}),
        ...(isTs(l) ? { l } : {}),
        ...(isTs(n) ? { n } : {}),
      };
    }
  } catch {
    // fall through
  }
  throw new ProviderCallError('The stored Slack listing cursor is not one this adapter issued', undefined);
}

/**
 * Judges a Slack answer: returns its body when `ok: true`, else throws what the engine needs.
 * A token refusal that got this far (the client already refreshed once) is ConnectionRejected;
 * channel and grant errors fail the run; message errors fail the record; any other `ok: false`
 * (HTTP 200, as Slack answers per-call errors) fails the record when `perRecord`, else the run;
 * other HTTP statuses (a 404 `unknown_method` from a wrong base URL, 5xx) fail the run.
 */
function expectOk(res: ProviderResponse, method: string, perRecord: boolean): SlackBody {
  const body = res.json;
  if (res.status === 401) throw new ConnectionRejected(res.status);
  if (res.status === 429) throw new ProviderCallError(`Slack ${method}: rate limited`, res.status);
  if (res.status >= 500) throw new ProviderCallError(`Slack ${method}: HTTP ${res.status}`, res.status);
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new ProviderCallError(`Slack ${method}: HTTP ${res.status} without a JSON object`, res.status);
  }
  const b = body as SlackBody;
  if (b.ok === true && res.status < 300) return b;
  const error = typeof b.error === 'string' ? b.error : `http_${res.status}`;
  if (SLACK_AUTH_ERRORS.has(error)) {
    throw new ConnectionRejected(res.status, `Slack refused the connection's token (${error})`);
  }
  let detail = error;
  if (error === 'missing_scope' && typeof b.needed === 'string') detail += ` (needs ${b.needed})`;
  const recordLevel = SLACK_RUN_ERRORS.has(error)
    ? false
    : SLACK_RECORD_ERRORS.has(error) || (perRecord && res.status === 200 && error !== 'ratelimited');
  throw new ProviderCallError(`Slack ${method}: ${detail}`, res.status, recordLevel);
}

type Parsed =
  | { kind: 'record'; record: ExternalRecord; ts: string }
  | { kind: 'skip'; ts: string }
  | { kind: 'malformed'; malformed: MalformedRecord };

/** Reads one message of a history page. */
function parseMessage(raw: unknown): Parsed {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    return { kind: 'malformed', malformed: { externalId: null, error: 'The message is not an object' } };
  }
  const m = raw as Record<string, unknown>;
  if (!isTs(m.ts)) {
    return {
      kind: 'malformed',
      malformed: {
        externalId: typeof m.ts === 'string' && m.ts ? m.ts.slice(0, 100) : null,
        error: m.ts === undefined ? 'The message has no ts' : 'The message ts is not a Slack timestamp',
      },
    };
  }
  const ts = m.ts;
  const subtype = typeof m.subtype === 'string' ? m.subtype : undefined;
  if (subtype === 'tombstone') {
    // A deleted thread parent: Slack keeps a placeholder so the replies stay reachable.
    return {
      kind: 'record',
      ts,
      record: { id: ts, updatedAt: slackTsToIso(ts), fields: { ts }, deleted: true },
    };
  }
  // Thread replies (broadcast to the channel or not) belong to their parent's task.
  if (typeof m.thread_ts === 'string' && m.thread_ts !== ts) return { kind: 'skip', ts };
  if (!TASK_SUBTYPES.has(subtype) || m.hidden === true) return { kind: 'skip', ts };
  return { kind: 'record', ts, record: toRecord(m, ts) };
}

function toRecord(m: Record<string, unknown>, ts: string): ExternalRecord {
  const edited = m.edited && typeof m.edited === 'object' ? (m.edited as Record<string, unknown>) : undefined;
  const editedTs = isTs(edited?.ts) ? edited.ts : undefined;
  const reactions = Array.isArray(m.reactions)
    ? m.reactions.flatMap((r) =>
        r && typeof r === 'object' && typeof (r as { name?: unknown }).name === 'string'
          ? [(r as { name: string }).name]
          : [],
      )
    : [];
  const user = typeof m.user === 'string' ? m.user : typeof m.bot_id === 'string' ? m.bot_id : null;
  const fields: FieldValues = {
    ts,
    text: typeof m.text === 'string' ? m.text : '',
    user,
    edited_at: editedTs ? slackTsToIso(editedTs) : null,
    reply_count: typeof m.reply_count === 'number' ? m.reply_count : 0,
    reactions,
  };
  const updated = editedTs && compareSlackTs(editedTs, ts) > 0 ? editedTs : ts;
  return { id: ts, updatedAt: slackTsToIso(updated), fields };
}

function textOf(fields: FieldValues): string {
  const text = fields.text;
  if (typeof text !== 'string' || text.trim() === '') {
    throw new ProviderCallError('A Slack message needs a non-empty `text`', undefined, true);
  }
  return text;
}

function requireTs(id: string): string {
  if (!TS.test(id))
    throw new ProviderCallError(`'${id.slice(0, 100)}' is not a Slack message ts`, undefined, true);
  return id;
}

/** One message by ts, the way Slack documents it: a one-message window of the history. */
async function fetchMessage(
  ctx: AdapterContext,
  channel: string,
  ts: string,
): Promise<Record<string, unknown> | undefined> {
  const res = await ctx.http.request({
    path: '/conversations.history',
    query: { channel, latest: ts, oldest: ts, inclusive: 'true', limit: 1 },
  });
  const body = expectOk(res, 'conversations.history', true);
  const messages = Array.isArray(body.messages) ? body.messages : [];
  return messages.find(
    (m): m is Record<string, unknown> =>
      !!m && typeof m === 'object' && (m as Record<string, unknown>).ts === ts,
  );
}

/** `attempt`: rate-limited answers to this request before this one (0 for the first, as provider-http counts). */
function slackBackoff(attempt: number): number {
  const n = Number.isFinite(attempt) ? Math.max(0, Math.floor(attempt)) : 0;
  return Math.min(SLACK_BACKOFF_MAX_MS, SLACK_BACKOFF_BASE_MS * 2 ** Math.min(n, 10));
}

export const slackAdapter: SyncAdapter = {
  id: 'slack',
  resourceTypes: [
    {
      type: SLACK_CHANNEL_TYPE,
      description:
        'A Slack channel used as a request queue: each top-level message is a task (thread replies and channel events are not).',
      locator: slackChannelLocator,
      variants: [
        {
          kind: 'default',
          entity: 'task',
          fields: slackMessageFields,
          writable: { create: true, update: true, delete: true },
        },
      ],
    },
  ],

  resourceKey: (resource) => `slack:${channelOf(resource)}`,

  /**
   * One page of `conversations.history`, newest first (Slack offers no other order; records
   * within a page are returned oldest first). With `since` (a ts checkpoint) only messages posted
   * after it are listed: see the module comment for what incremental runs cannot see. Each page's
   * checkpoint is the newest ts seen in the listing so far (at least `since`), skipped messages
   * included.
   */
  async listChanges(ctx, resource, state): Promise<ChangePage> {
    const channel = channelOf(resource);
    const since = state.since === undefined ? undefined : requireSince(state.since);
    const cursor = state.cursor ? decodeCursor(state.cursor) : {};
    const res = await ctx.http.request({
      path: '/conversations.history',
      query: {
        channel,
        limit: SLACK_PAGE_SIZE,
        oldest: since,
        latest: cursor.c ? undefined : cursor.l,
        cursor: cursor.c,
      },
    });
    const body = expectOk(res, 'conversations.history', false);
    if (!Array.isArray(body.messages)) {
      throw new ProviderCallError('Slack conversations.history: the answer has no messages', res.status);
    }
    const records: ExternalRecord[] = [];
    const malformed: MalformedRecord[] = [];
    let newest = maxTs(cursor.n, since);
    let oldestOnPage: string | undefined;
    for (const raw of body.messages) {
      const parsed = parseMessage(raw);
      if (parsed.kind === 'malformed') {
        malformed.push(parsed.malformed);
        continue;
      }
      newest = maxTs(newest, parsed.ts);
      if (oldestOnPage === undefined || compareSlackTs(parsed.ts, oldestOnPage) < 0) oldestOnPage = parsed.ts;
      if (parsed.kind === 'record') records.push(parsed.record);
    }
    records.reverse();

    const meta = body.response_metadata as { next_cursor?: unknown } | undefined;
    const slackNext = typeof meta?.next_cursor === 'string' ? meta.next_cursor : '';
    let next: string | undefined;
    if (slackNext) next = encodeCursor({ c: slackNext, ...(newest ? { n: newest } : {}) });
    else if (body.has_more === true && oldestOnPage && oldestOnPage !== cursor.l) {
      // An older paging style: the next page is what precedes the oldest message of this one.
      next = encodeCursor({ l: oldestOnPage, ...(newest ? { n: newest } : {}) });
    }
    return { records, malformed, ...(next ? { next } : {}), ...(newest ? { checkpoint: newest } : {}) };
  },

  async fetchRecord(ctx, resource, id) {
    const channel = channelOf(resource);
    const message = await fetchMessage(ctx, channel, requireTs(id));
    if (!message) return 'gone';
    const parsed = parseMessage(message);
    if (parsed.kind === 'malformed') {
      throw new ProviderCallError(`Slack message ${id}: ${parsed.malformed.error}`, 200, true);
    }
    // A tombstone, or a message that is not a task (a reply, a channel event), is no task here.
    if (parsed.kind === 'skip' || parsed.record.deleted) return 'gone';
    return parsed.record;
  },

  async createRecord(ctx, resource, fields) {
    const channel = channelOf(resource);
    const res = await ctx.http.request({
      method: 'POST',
      path: '/chat.postMessage',
      body: { channel, text: textOf(fields) },
    });
    const body = expectOk(res, 'chat.postMessage', true);
    const ts = body.ts;
    if (!isTs(ts))
      throw new ProviderCallError('Slack chat.postMessage: the answer has no ts', res.status, true);
    const message = body.message && typeof body.message === 'object' ? (body.message as object) : {};
    return toRecord({ ...message, ts }, ts);
  },

  async updateRecord(ctx, resource, id, fields) {
    const channel = channelOf(resource);
    const ts = requireTs(id);
    if (fields.text !== undefined) {
      const res = await ctx.http.request({
        method: 'POST',
        path: '/chat.update',
        body: { channel, ts, text: textOf(fields) },
      });
      const body = expectOk(res, 'chat.update', true);
      const message = body.message as Record<string, unknown> | undefined;
      const edited = message?.edited as { ts?: unknown } | undefined;
      // Slack's answer carries the new text but usually not `edited.ts` (the conflict clock):
      // read the message back unless it did.
      if (message && isTs(edited?.ts)) return toRecord({ ...message, ts }, ts);
    }
    const now = await fetchMessage(ctx, channel, ts);
    const parsed = now ? parseMessage(now) : undefined;
    if (parsed?.kind !== 'record' || parsed.record.deleted) {
      throw new ProviderCallError(`Slack message ${ts} is gone`, undefined, true);
    }
    return parsed.record;
  },

  async deleteRecord(ctx, resource, id) {
    const channel = channelOf(resource);
    const res = await ctx.http.request({
      method: 'POST',
      path: '/chat.delete',
      body: { channel, ts: requireTs(id) },
    });
    const json = res.json as SlackBody | undefined;
    if (res.status === 200 && json?.ok === false && json.error === 'message_not_found') return;
    expectOk(res, 'chat.delete', true);
  },

  /**
   * Slack's rate limits are per method and workspace (tiers); going over answers HTTP 429 with
   * `Retry-After` in seconds (and `{ ok: false, error: "ratelimited" }`). Without the header:
   * 30 s doubled per earlier rate-limited answer (`attempt` 0, 1, …), at most 5 minutes.
   */
  rateLimit(res, _now, attempt): RateLimitDecision | undefined {
    const json = res.json as SlackBody | undefined;
    const limited = res.status === 429 || (json?.ok === false && json.error === 'ratelimited');
    if (!limited) return undefined;
    const header = res.headers['retry-after']?.trim();
    if (header && /^\d+(\.\d+)?$/.test(header)) {
      return { waitMs: Math.max(1_000, Math.ceil(Number(header) * 1000)), kind: 'retry_after' };
    }
    return { waitMs: slackBackoff(attempt), kind: 'primary' };
  },

  authFailed(res) {
    if (res.status === 401) return true;
    const json = res.json as SlackBody | undefined;
    return json?.ok === false && typeof json.error === 'string' && SLACK_AUTH_ERRORS.has(json.error);
  },
};

function requireSince(since: string): string {
  if (!TS.test(since)) {
    throw new ProviderCallError(`The stored checkpoint '${since.slice(0, 40)}' is not a Slack ts`, undefined);
  }
  return since;
}
