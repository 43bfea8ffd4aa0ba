import { DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { Resource } from '#shared/bindings/adapter.ts';
import { adapterFor } from '#shared/bindings/adapters/index.ts';
import type { InvocationOptions } from '#shared/bindings/engine.ts';
import type { FieldMapping } from '#shared/bindings/fields.ts';
import { bindingKeys } from '#shared/bindings/keys.ts';
import type { RecordMessage } from '#shared/bindings/records.ts';
import { type BindingItem, getBindingAt, getRunAt, type RunItem } from '#shared/bindings/store.ts';
import { grantConsent } from '#shared/consents/service.ts';
import { db, tableName } from '#shared/db/client.ts';
import type { PronaFlowEvent } from '#shared/events/envelope.ts';
import type { Caller } from '#shared/http/caller.ts';
import { newId } from '#shared/ids.ts';
import { closePooledAgents } from '#shared/net/pinned-http.ts';
import type { ConnectionItem } from '#shared/oauth/connections-repo.ts';
import { sqs } from '#shared/queues.ts';
import { setEnv, useTestSqs } from './env.ts';
import { type FakeGitHub, startFakeGitHub } from './fake-github.ts';
import { type FakeSlack, startFakeSlack } from './fake-slack.ts';
import { GITHUB_TASK_MAPPING } from './github-mapping.ts';
import { fakeApp } from './oauth-provider.ts';
import { connectThroughFlow, type OAuthTestEnv, useOAuthEnv } from './oauth-setup.ts';

/**
 * The world of a sync engine test file: its own table and queues (the `sync`, `records` and
 * `ingest` queues among them), the fake OAuth provider, a fake GitHub and a fake Slack on
 * 127.0.0.1 registered as the OAuth apps `github` and `slack` (their `api_base_url`, their
 * `sync_adapter`), a connection of `alice` in `ws1` to each through the real OAuth flow, and her
 * THIRD_PARTY consent for each connection. Bindings are written straight to the table
 * ({@link BindingsEnv.makeBinding}), not through the bindings API.
 */
export interface BindingsEnv {
  oauth: OAuthTestEnv;
  gh: FakeGitHub;
  slack: FakeSlack;
  github: ConnectionItem;
  slackConnection: ConnectionItem;
  queues: { sync: string; records: string; ingest: string };
  caller: Caller;
  collection: { method: 'api'; ip: string; userAgent: string };
  /** The consent ids by connection id. */
  consents: Map<string, string>;
  /** Writes a binding (GitHub issues of `acme/<unique repo>` by default) and returns it. */
  makeBinding: (overrides?: Partial<BindingItem>) => Promise<BindingItem>;
  /** Reads and deletes every message now visible on a queue (parsed JSON bodies). */
  receiveAll: <T = unknown>(url: string) => Promise<T[]>;
  records: () => Promise<RecordMessage[]>;
  events: () => Promise<PronaFlowEvent[]>;
  /** Messages of a queue not yet visible (delayed). */
  delayedCount: (url: string) => Promise<number>;
  /** Empties every queue of the file (at the start of each test). */
  purge: () => Promise<void>;
  binding: (b: BindingItem) => Promise<BindingItem>;
  run: (r: Pick<RunItem, 'connection_id' | 'binding_id' | 'id'>) => Promise<RunItem>;
  /**
   * The test's clock (epoch ms), shared by the engine (through {@link BindingsEnv.opts}) and the
   * fake GitHub: a rate-limit wait "slept" by the engine moves it on instead of sleeping.
   */
  clock: { offset: number; now: () => number; advance: (ms: number) => void };
  /** Invocation options on the test's clock, with a generous deadline and no real sleeping. */
  opts: (more?: Partial<InvocationOptions>) => InvocationOptions;
}

export { GITHUB_TASK_MAPPING };

export const SLACK_TASK_MAPPING: FieldMapping[] = [{ source: 'text', target: 'title' }];

let repoSeq = 0;
/** A repository name no other test of the file uses. */
export const uniqueRepo = (prefix = 'r') => `${prefix}${++repoSeq}-${Math.random().toString(36).slice(2, 7)}`;

export function useBindingsEnv(): BindingsEnv {
  const oauth = useOAuthEnv();
  const sqsRef = useTestSqs();
  const env = { oauth, consents: new Map() } as unknown as BindingsEnv;
  const clock = {
    offset: 0,
    now: () => Date.now() + clock.offset,
    advance: (ms: number) => {
      clock.offset += ms;
    },
  };
  env.clock = clock;
  beforeAll(async () => {
    setEnv({ CONSENT_POLICY_VERSION: '1', RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '100000' });
    env.gh = await startFakeGitHub({ provider: oauth.provider, now: clock.now });
    env.slack = await startFakeSlack({ accept: (t) => oauth.provider.issued.includes(t) });
    oauth.writeApps([
      fakeApp(oauth.provider),
      fakeApp(oauth.provider, { id: 'github', api_base_url: env.gh.url, sync_adapter: 'github' }),
      fakeApp(oauth.provider, { id: 'slack', api_base_url: env.slack.url, sync_adapter: 'slack' }),
    ]);
    const prefix = process.env.SECRETS_PREFIX ?? 'pronaflow-integrations/';
    const creds = JSON.stringify({
      client_id: oauth.provider.clientId,
      client_secret: oauth.provider.clientSecret,
    });
    oauth.secrets.set(`${prefix}oauth/github`, creds);
    oauth.secrets.set(`${prefix}oauth/slack`, creds);
    const jwt = await oauth.id.jwt('alice', 'ws1');
    env.github = await connectThroughFlow(oauth, jwt, 'alice', 'github');
    env.slackConnection = await connectThroughFlow(oauth, jwt, 'alice', 'slack');
    env.queues = {
      sync: sqsRef.current.urls.sync,
      records: sqsRef.current.urls.records,
      ingest: sqsRef.current.urls.ingest,
    };
    env.caller = {
      kind: 'session',
      userId: 'alice',
      workspaceId: 'ws1',
      role: 'member',
      workspaces: [{ id: 'ws1', role: 'member' }],
    };
    env.collection = { method: 'api', ip: '203.0.113.9', userAgent: 'vitest' };
    for (const c of [env.github, env.slackConnection]) {
      const { consent } = await grantConsent(
        env.caller,
        { consent_type: 'THIRD_PARTY', resource_type: 'oauth_connection', resource_id: c.id },
        env.collection,
      );
      env.consents.set(c.id, consent.id);
    }
  });
  afterAll(async () => {
    await env.gh?.stop();
    await env.slack?.stop();
    await closePooledAgents();
  });
  beforeEach(async () => {
    await env.purge();
    env.gh.calls.length = 0;
    env.slack.calls.length = 0;
  });

  env.makeBinding = async (overrides = {}) => {
    const id = overrides.id ?? newId('bnd');
    const appId = overrides.app_id ?? 'github';
    const connection = appId === 'slack' ? env.slackConnection : env.github;
    const connectionId = overrides.connection_id ?? connection.id;
    const resource: Resource =
      overrides.resource ??
      (appId === 'slack'
        ? { type: 'slack_channel', channel: `C${Math.random().toString(36).slice(2, 10).toUpperCase()}` }
        : { type: 'github_repository', owner: 'acme', repo: uniqueRepo(), kind: 'issues' });
    const adapter = adapterFor(overrides.adapter ?? appId);
    if (!adapter) throw new Error(`no adapter ${appId}`);
    const at = new Date().toISOString();
    const item: BindingItem = {
      ...bindingKeys.binding(connectionId, id),
      ...bindingKeys.ofWorkspace('ws1', id),
      entity: 'SyncBinding',
      id,
      workspace_id: 'ws1',
      connection_id: connectionId,
      app_id: appId,
      adapter: adapter.id,
      created_by: 'alice',
      resource,
      resource_key: adapter.resourceKey(resource),
      sync_entity: 'task',
      project_id: 'prj_1',
      direction: 'INBOUND',
      field_mapping: appId === 'slack' ? SLACK_TASK_MAPPING : GITHUB_TASK_MAPPING,
      schedule: null,
      conflict_policy: 'provider_wins',
      status: 'ACTIVE',
      status_reason: null,
      checkpoint: null,
      etags: {},
      last_run: null,
      next_run_at: null,
      version: 1,
      created_at: at,
      updated_at: at,
      ...overrides,
    };
    await db().send(new PutCommand({ TableName: tableName(), Item: item }));
    return item;
  };

  env.receiveAll = async <T>(url: string): Promise<T[]> => {
    const out: T[] = [];
    for (;;) {
      const res = await sqs().send(
        new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      );
      const messages = res.Messages ?? [];
      if (!messages.length) return out;
      for (const m of messages) {
        out.push(JSON.parse(m.Body as string) as T);
        await sqs().send(
          new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle as string }),
        );
      }
    }
  };
  env.records = () => env.receiveAll<RecordMessage>(env.queues.records);
  env.events = () => env.receiveAll<PronaFlowEvent>(env.queues.ingest);
  env.delayedCount = async (url) => {
    const out = await sqs().send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ['ApproximateNumberOfMessagesDelayed'],
      }),
    );
    return Number(out.Attributes?.ApproximateNumberOfMessagesDelayed ?? 0);
  };
  env.purge = async () => {
    for (const url of Object.values(env.queues)) await env.receiveAll(url);
  };
  env.binding = async (b) => {
    const found = await getBindingAt(b.connection_id, b.id);
    if (!found) throw new Error(`no binding ${b.id}`);
    return found;
  };
  env.run = async (r) => {
    const found = await getRunAt(r.connection_id, r.binding_id, r.id);
    if (!found) throw new Error(`no run ${r.id}`);
    return found;
  };
  env.opts = (more = {}) => ({
    now: clock.now,
    deadline: clock.now() + 120_000,
    sleep: async (ms: number) => clock.advance(ms),
    ...more,
  });
  return env;
}

/** The run message of a run, as startRun puts it on the sync queue. */
export const messageOf = (run: Pick<RunItem, 'connection_id' | 'binding_id' | 'id'>) => ({
  kind: 'run' as const,
  connection_id: run.connection_id,
  binding_id: run.binding_id,
  run_id: run.id,
});
