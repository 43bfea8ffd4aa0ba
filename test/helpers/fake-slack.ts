import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fake of Slack's Web API on 127.0.0.1 for the sync adapter's tests, behaving as Slack documents
 * these methods: `conversations.history`, `chat.postMessage`, `chat.update`, `chat.delete`.
 *
 * - Methods live at `<url>/<method>` (`url` ends in `/api`, like `https://slack.com/api`); GET
 *   query, form-encoded POST and JSON POST parameters are all read (query and body merged).
 * - The token comes as `Authorization: Bearer …` (or a `token` parameter). Errors are HTTP 200
 *   with `{ ok: false, error }`: `not_authed`, `invalid_auth`, `token_expired`, `token_revoked`.
 * - Messages have strictly increasing `ts` (at least 1 ms apart). History lists a channel's
 *   top-level messages newest first: ordinary messages, channel events (`channel_join`),
 *   thread parents (`thread_ts` = `ts`, `reply_count`) and replies sent to the channel too
 *   (`thread_broadcast`, `thread_ts` of the parent); plain thread replies stay in their thread,
 *   as in Slack. `limit` (default 100, at most 999), `oldest`/`latest` (exclusive unless
 *   `inclusive`), and cursor paging (`has_more`, `response_metadata.next_cursor`, '' at the end;
 *   a cursor names the next ts, so pages stay stable while messages are added).
 * - `chat.update` sets `edited: { user, ts }`; its answer's `message` carries no `edited` (as
 *   Slack's does not). Only the author may update or delete (`cant_update_message`,
 *   `cant_delete_message`); a deleted thread parent leaves a `tombstone`.
 * - Test-side changes (`post`, `seed`, `reply`, `join`, `edit`, `react`, `deleteMessage`,
 *   `corrupt`), rate limits (`rateLimitNext` → HTTP 429, `Retry-After`, `error: ratelimited`),
 *   injected errors (`failNext`) and a call log.
 */
export interface FakeSlack {
  /** The API base URL (`http://127.0.0.1:<port>/api`), an app's `api_base_url`. */
  url: string;
  /** The user id the tokens act as (author of what the API posts). */
  botUser: string;
  /** Tokens accepted now. */
  tokens: Set<string>;
  calls: FakeSlackCall[];
  /** Creates a channel (`member: false`: the token's user is not in it → `not_in_channel`). */
  createChannel: (id: string, opts?: { member?: boolean }) => void;
  /** Posts a message as a person (not through the API). */
  post: (channel: string, text: string, extra?: Partial<SlackMessage>) => SlackMessage;
  /** Posts `n` messages fast (`Request 1`…); returns their ts, oldest first. */
  seed: (channel: string, n: number, opts?: { user?: string; prefix?: string }) => string[];
  /** A thread reply; `broadcast` also sends it to the channel (then history lists it). */
  reply: (
    channel: string,
    parentTs: string,
    text: string,
    opts?: { broadcast?: boolean; user?: string },
  ) => SlackMessage;
  /** A `channel_join` event message. */
  join: (channel: string, user: string) => SlackMessage;
  /** Edits a message as its author would (sets `edited`). */
  edit: (channel: string, ts: string, text: string) => SlackMessage;
  react: (channel: string, ts: string, name: string, user?: string) => void;
  /** Deletes a message as a person would (a thread parent with replies becomes a tombstone). */
  deleteMessage: (channel: string, ts: string) => void;
  /** Serves `raw` in place of the message in history (malformed answers). */
  corrupt: (channel: string, ts: string, raw: unknown) => void;
  /** The channel's top-level messages as stored, oldest first. */
  messages: (channel: string) => SlackMessage[];
  /** Answers the next `n` calls with HTTP 429 (`Retry-After` when `retryAfterSeconds` is given). */
  rateLimitNext: (n: number, retryAfterSeconds?: number) => void;
  /** Answers the next call (of `method`, or any) with `{ ok: false, error, ...extra }`. */
  failNext: (
    error: string,
    opts?: { method?: string; status?: number; extra?: Record<string, unknown> },
  ) => void;
  /** Makes a token answer `token_expired` (as Slack does for an expired rotating token). */
  expireToken: (token: string) => void;
  /** Makes a token answer `token_revoked`. */
  revokeToken: (token: string) => void;
  stop: () => Promise<void>;
}

export interface FakeSlackCall {
  method: string;
  httpMethod: string;
  params: Record<string, unknown>;
  token: string | undefined;
  status: number;
  /** The `error` of an `ok: false` answer. */
  error?: string;
}

export interface SlackMessage {
  type: 'message';
  ts: string;
  text: string;
  user?: string;
  bot_id?: string;
  subtype?: string;
  thread_ts?: string;
  reply_count?: number;
  reply_users_count?: number;
  latest_reply?: string;
  reply_users?: string[];
  edited?: { user: string; ts: string };
  reactions?: { name: string; users: string[]; count: number }[];
  hidden?: boolean;
  [key: string]: unknown;
}

interface Channel {
  id: string;
  member: boolean;
  /** Top-level messages, oldest first. */
  history: SlackMessage[];
  /** Replies by parent ts (broadcast ones are also in history). */
  threads: Map<string, SlackMessage[]>;
  /** Raw replacements served by history (`corrupt`). */
  raw: Map<string, unknown>;
}

interface Failure {
  error: string;
  method?: string;
  status: number;
  extra: Record<string, unknown>;
}

const MAX_LIMIT = 999;
const DEFAULT_LIMIT = 100;
const MAX_TEXT = 40_000;

/** A ts as microseconds, for ordering (`1712345678.000200` → 1712345678000200n). */
function micros(ts: string): bigint | undefined {
  const m = /^(\d+)(?:\.(\d{1,6}))?$/.exec(ts);
  if (!m) return undefined;
  return BigInt(m[1] ?? '0') * 1_000_000n + BigInt((m[2] ?? '').padEnd(6, '0'));
}
const tsOf = (us: bigint) => `${us / 1_000_000n}.${String(us % 1_000_000n).padStart(6, '0')}`;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const truthy = (v: unknown) => v === true || v === 'true' || v === '1' || v === 1;

export async function startFakeSlack(
  opts: {
    /** Tokens accepted from the start (default `xoxb-test-token`). */
    tokens?: string[];
    /** Also accepts a token this says yes to (e.g. those a fake OAuth provider issued). */
    accept?: (token: string) => boolean;
    botUser?: string;
    channels?: string[];
  } = {},
): Promise<FakeSlack> {
  const botUser = opts.botUser ?? 'U0BOT00001';
  const tokens = new Set(opts.tokens ?? ['xoxb-test-token']);
  const expired = new Set<string>();
  const revoked = new Set<string>();
  const channels = new Map<string, Channel>();
  const calls: FakeSlackCall[] = [];
  const failures: Failure[] = [];
  const rateLimits: { retryAfter: number | undefined }[] = [];
  let lastTs = 0n;

  /** A new ts: now, or 1 ms after the last one, whichever is later. */
  const nextTs = () => {
    const now = BigInt(Date.now()) * 1000n;
    lastTs = now > lastTs + 1000n ? now : lastTs + 1000n;
    return tsOf(lastTs);
  };

  const channelOrThrow = (id: string) => {
    const c = channels.get(id);
    if (!c) throw new Error(`fake-slack: no channel ${id}`);
    return c;
  };
  const findTop = (c: Channel, ts: string) => c.history.find((m) => m.ts === ts);
  const findAny = (c: Channel, ts: string) =>
    findTop(c, ts) ?? [...c.threads.values()].flat().find((m) => m.ts === ts);

  const createChannel = (id: string, o: { member?: boolean } = {}) => {
    channels.set(id, { id, member: o.member ?? true, history: [], threads: new Map(), raw: new Map() });
  };
  for (const id of opts.channels ?? []) createChannel(id);

  const post = (channel: string, text: string, extra: Partial<SlackMessage> = {}): SlackMessage => {
    const c = channelOrThrow(channel);
    const message: SlackMessage = { type: 'message', user: 'U0HUMAN001', text, ...extra, ts: nextTs() };
    c.history.push(message);
    return message;
  };

  const reply = (
    channel: string,
    parentTs: string,
    text: string,
    o: { broadcast?: boolean; user?: string } = {},
  ) => {
    const c = channelOrThrow(channel);
    const parent = findTop(c, parentTs);
    if (!parent) throw new Error(`fake-slack: no message ${parentTs} in ${channel}`);
    const message: SlackMessage = {
      type: 'message',
      user: o.user ?? 'U0HUMAN002',
      text,
      ts: nextTs(),
      thread_ts: parentTs,
      ...(o.broadcast ? { subtype: 'thread_broadcast' } : {}),
    };
    const thread = c.threads.get(parentTs) ?? [];
    thread.push(message);
    c.threads.set(parentTs, thread);
    const users = [...new Set(thread.map((m) => m.user ?? ''))];
    Object.assign(parent, {
      thread_ts: parentTs,
      reply_count: thread.length,
      reply_users_count: users.length,
      reply_users: users,
      latest_reply: message.ts,
    });
    if (o.broadcast) c.history.push(message);
    return message;
  };

  const edit = (channel: string, ts: string, text: string, by?: string) => {
    const c = channelOrThrow(channel);
    const m = findAny(c, ts);
    if (!m) throw new Error(`fake-slack: no message ${ts} in ${channel}`);
    m.text = text;
    m.edited = { user: by ?? m.user ?? botUser, ts: nextTs() };
    return m;
  };

  const remove = (c: Channel, ts: string) => {
    const m = findAny(c, ts);
    if (!m) return false;
    const thread = c.threads.get(ts);
    if (thread?.length) {
      // Slack keeps a deleted thread parent as a tombstone, so its replies stay reachable.
      for (const k of Object.keys(m))
        if (!['type', 'ts', 'thread_ts', 'reply_count'].includes(k)) delete m[k];
      Object.assign(m, {
        subtype: 'tombstone',
        text: 'This message was deleted.',
        hidden: true,
        user: 'USLACKBOT',
      });
    } else {
      c.history = c.history.filter((x) => x.ts !== ts);
      if (m.thread_ts && m.thread_ts !== ts) {
        const siblings = (c.threads.get(m.thread_ts) ?? []).filter((x) => x.ts !== ts);
        c.threads.set(m.thread_ts, siblings);
        const parent = findTop(c, m.thread_ts);
        if (parent) parent.reply_count = siblings.length;
      }
    }
    c.raw.delete(ts);
    return true;
  };

  // --- the API -------------------------------------------------------------------------------

  type Params = Record<string, unknown>;
  type Answer = { status: number; body: Record<string, unknown>; headers?: Record<string, string> };
  const fail = (error: string, extra: Record<string, unknown> = {}): Answer => ({
    status: 200,
    body: { ok: false, error, ...extra },
  });
  const ok = (body: Record<string, unknown>): Answer => ({ status: 200, body: { ok: true, ...body } });

  const channelFor = (p: Params): Channel | Answer => {
    const id = typeof p.channel === 'string' ? p.channel : '';
    const c = channels.get(id);
    if (!c) return fail('channel_not_found');
    return c;
  };
  const isAnswer = (v: Channel | Answer): v is Answer => 'status' in v;

  const history = (p: Params): Answer => {
    const c = channelFor(p);
    if (isAnswer(c)) return c;
    if (!c.member) return fail('not_in_channel');
    const inclusive = truthy(p.inclusive);
    const oldest = p.oldest === undefined || p.oldest === '' ? 0n : micros(String(p.oldest));
    const latest = p.latest === undefined || p.latest === '' ? undefined : micros(String(p.latest));
    if (oldest === undefined || (p.latest !== undefined && p.latest !== '' && latest === undefined)) {
      return fail('invalid_ts_oldest');
    }
    const rawLimit = Number(p.limit ?? DEFAULT_LIMIT);
    const limit =
      Number.isFinite(rawLimit) && rawLimit >= 1 ? Math.min(MAX_LIMIT, Math.floor(rawLimit)) : DEFAULT_LIMIT;
    let upTo: bigint | undefined; // the cursor's ts, inclusive
    if (typeof p.cursor === 'string' && p.cursor !== '') {
      const decoded = /^next_ts:(\d+)$/.exec(Buffer.from(p.cursor, 'base64').toString('utf8'));
      if (!decoded) return fail('invalid_cursor');
      upTo = BigInt(decoded[1] ?? '0');
    }
    const window = c.history
      .filter((m) => {
        const t = micros(m.ts) ?? 0n;
        if (inclusive ? t < oldest : t <= oldest) return false;
        if (latest !== undefined && (inclusive ? t > latest : t >= latest)) return false;
        return upTo === undefined || t <= upTo;
      })
      .reverse();
    const page = window.slice(0, limit);
    const following = window[limit];
    return ok({
      messages: page.map((m) => (c.raw.has(m.ts) ? c.raw.get(m.ts) : structuredClone(m))),
      has_more: following !== undefined,
      pin_count: 0,
      channel_actions_ts: null,
      channel_actions_count: 0,
      response_metadata: {
        next_cursor: following ? Buffer.from(`next_ts:${micros(following.ts)}`).toString('base64') : '',
      },
    });
  };

  const postMessage = (p: Params): Answer => {
    const c = channelFor(p);
    if (isAnswer(c)) return c;
    if (!c.member) return fail('not_in_channel');
    const text = typeof p.text === 'string' ? p.text : '';
    if (text.trim() === '') return fail('no_text');
    if (text.length > MAX_TEXT) return fail('msg_too_long');
    const threadTs = typeof p.thread_ts === 'string' && p.thread_ts ? p.thread_ts : undefined;
    let message: SlackMessage;
    if (threadTs) {
      if (!findTop(c, threadTs)) return fail('thread_not_found');
      message = reply(c.id, threadTs, text, { user: botUser });
    } else {
      message = post(c.id, text, { user: botUser, bot_id: 'B0BOT00001' });
    }
    return ok({ channel: c.id, ts: message.ts, message: structuredClone(message) });
  };

  const update = (p: Params): Answer => {
    const c = channelFor(p);
    if (isAnswer(c)) return c;
    const ts = typeof p.ts === 'string' ? p.ts : '';
    const m = findAny(c, ts);
    if (!m || m.subtype === 'tombstone') return fail('message_not_found');
    if (m.user !== botUser) return fail('cant_update_message');
    const text = typeof p.text === 'string' ? p.text : '';
    if (text.trim() === '') return fail('no_text');
    if (text.length > MAX_TEXT) return fail('msg_too_long');
    edit(c.id, ts, text, botUser);
    return ok({ channel: c.id, ts, text, message: { text, user: botUser } });
  };

  const del = (p: Params): Answer => {
    const c = channelFor(p);
    if (isAnswer(c)) return c;
    const ts = typeof p.ts === 'string' ? p.ts : '';
    const m = findAny(c, ts);
    if (!m || m.subtype === 'tombstone') return fail('message_not_found');
    if (m.user !== botUser) return fail('cant_delete_message');
    remove(c, ts);
    return ok({ channel: c.id, ts });
  };

  const methods: Record<string, (p: Params) => Answer> = {
    'conversations.history': history,
    'chat.postMessage': postMessage,
    'chat.update': update,
    'chat.delete': del,
  };

  const handle = async (req: IncomingMessage): Promise<{ call: FakeSlackCall; answer: Answer }> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = url.pathname.replace(/^\/api\//, '');
    const params: Params = Object.fromEntries(url.searchParams);
    const raw = req.method === 'POST' ? await readBody(req) : '';
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    const call: FakeSlackCall = {
      method,
      httpMethod: req.method ?? 'GET',
      params,
      token: undefined,
      status: 200,
    };
    if (raw) {
      if (type === 'application/json') {
        try {
          const parsed = JSON.parse(raw) as unknown;
          if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
            throw new Error('not an object');
          Object.assign(params, parsed);
        } catch {
          return { call, answer: fail('invalid_json') };
        }
      } else if (type === 'application/x-www-form-urlencoded') {
        Object.assign(params, Object.fromEntries(new URLSearchParams(raw)));
      } else {
        return { call, answer: fail('invalid_form_data') };
      }
    }
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const token = bearer ?? (typeof params.token === 'string' ? params.token : undefined);
    delete params.token;
    call.token = token;

    const limited = rateLimits.shift();
    if (limited) {
      return {
        call,
        answer: {
          status: 429,
          body: { ok: false, error: 'ratelimited' },
          headers: limited.retryAfter === undefined ? {} : { 'Retry-After': String(limited.retryAfter) },
        },
      };
    }
    const handler = methods[method];
    if (!handler) return { call, answer: { status: 404, body: { ok: false, error: 'unknown_method' } } };
    if (!token) return { call, answer: fail('not_authed') };
    if (revoked.has(token)) return { call, answer: fail('token_revoked') };
    if (expired.has(token)) return { call, answer: fail('token_expired') };
    if (!tokens.has(token) && !opts.accept?.(token)) return { call, answer: fail('invalid_auth') };
    const i = failures.findIndex((f) => f.method === undefined || f.method === method);
    if (i >= 0) {
      const [f] = failures.splice(i, 1);
      return { call, answer: { status: f!.status, body: { ok: false, error: f!.error, ...f!.extra } } };
    }
    return { call, answer: handler(params) };
  };

  const server: Server = createServer((req, res: ServerResponse) => {
    handle(req).then(
      ({ call, answer }) => {
        call.status = answer.status;
        if (answer.body.ok === false) call.error = String(answer.body.error);
        calls.push(call);
        res.writeHead(answer.status, {
          'Content-Type': 'application/json; charset=utf-8',
          ...(answer.headers ?? {}),
        });
        res.end(JSON.stringify(answer.body));
      },
      () => {
        res.writeHead(500);
        res.end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: `${origin}/api`,
    botUser,
    tokens,
    calls,
    createChannel,
    post,
    seed: (channel, n, o = {}) =>
      Array.from(
        { length: n },
        (_, i) => post(channel, `${o.prefix ?? 'Request'} ${i + 1}`, { user: o.user ?? 'U0HUMAN001' }).ts,
      ),
    reply,
    join: (channel, user) =>
      post(channel, `<@${user}> has joined the channel`, { user, subtype: 'channel_join' }),
    edit: (channel, ts, text) => edit(channel, ts, text),
    react: (channel, ts, name, user = 'U0HUMAN003') => {
      const m = findAny(channelOrThrow(channel), ts);
      if (!m) throw new Error(`fake-slack: no message ${ts} in ${channel}`);
      m.reactions ??= [];
      const r = m.reactions.find((x) => x.name === name);
      if (r) {
        if (!r.users.includes(user)) r.users.push(user);
        r.count = r.users.length;
      } else m.reactions.push({ name, users: [user], count: 1 });
    },
    deleteMessage: (channel, ts) => {
      if (!remove(channelOrThrow(channel), ts)) throw new Error(`fake-slack: no message ${ts} in ${channel}`);
    },
    corrupt: (channel, ts, raw) => {
      channelOrThrow(channel).raw.set(ts, raw);
    },
    messages: (channel) => structuredClone(channelOrThrow(channel).history),
    rateLimitNext: (n, retryAfterSeconds) => {
      for (let i = 0; i < n; i++) rateLimits.push({ retryAfter: retryAfterSeconds });
    },
    failNext: (error, o = {}) =>
      failures.push({ error, method: o.method, status: o.status ?? 200, extra: o.extra ?? {} }),
    expireToken: (t) => {
      expired.add(t);
    },
    revokeToken: (t) => {
      revoked.add(t);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
