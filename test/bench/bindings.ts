/**
 * Data sync bindings: an inbound run of a GitHub repository's issues through the real engine, on
 * one in-process local stack (DynamoDB Local + SQS emulator with the stack's queues, the records
 * queue among them) and the fake GitHub on 127.0.0.1 (test/helpers/fake-github.ts):
 *
 * - full: `acme/app` seeded with BENCH_ISSUES issues (10 000 by default: 101 keyset pages), a
 *   binding issues → tasks (INBOUND), `startRun` and the sync worker (`syncRuns`, its real
 *   handler and grants) draining the sync queue until the run ends: duration, records/s, pages,
 *   provider calls, every DynamoDB request of the run by command (middleware on the document
 *   client, as the webhooks bench counts), SendMessageBatch calls to the records queue and the
 *   messages that reached it;
 * - unchanged: a second, incremental run with nothing changed at GitHub: one listing request, no
 *   record. It is the first listing since this checkpoint, so it has no ETag to send yet (GitHub's
 *   `since` is inclusive: the record at the checkpoint comes back, and is skipped);
 * - changed: a third run after BENCH_CHANGED (100) issues were edited at GitHub;
 * - unchanged_after_change, unchanged_once_more: two more runs with nothing changed, the second
 *   of which lists from a checkpoint it has listed from before: one conditional request, 304.
 *   The binding's ETags are counted after each run (one listing key: at most one should stay).
 *
 * The setup goes through the service where it can: the OAuth app file points `github` at the
 * fake, the connection is a direct one (POST /oauth/connections), the THIRD_PARTY consent is
 * granted with POST /consents; the binding is written with the keys of shared/bindings/keys.ts.
 *
 * Runs outside vitest; prints figures (and writes them as JSON with `--json FILE`), asserts
 * nothing, but prints a WARNING line when a run did not succeed or a count is not what it should be.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, PurgeQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { workers } from '#functions/features.ts';
import { pollQueue } from '#infra/local/poller.ts';
import { type LocalStack, startLocalStack } from '#infra/local/stack.ts';
import type { Resource } from '#shared/bindings/adapter.ts';
import { githubAdapter } from '#shared/bindings/adapters/github.ts';
import { bindingKeys } from '#shared/bindings/keys.ts';
import { startRun } from '#shared/bindings/runs.ts';
import type { BindingItem, RunItem } from '#shared/bindings/store.ts';
import { TERMINAL_RUN_STATUSES } from '#shared/bindings/store.ts';
import { db, tableName } from '#shared/db/client.ts';
import { newId } from '#shared/ids.ts';
import { resetCatalog } from '#shared/oauth/catalog.ts';
import { sqs } from '#shared/queues.ts';
import { startFakeGitHub } from '#test/helpers/fake-github.ts';
import { GITHUB_TASK_MAPPING } from '#test/helpers/github-mapping.ts';
import { testIdentity } from '#test/helpers/session.ts';
import { countDynamoCalls } from '#test/helpers/tokens.ts';

const ISSUES = Number(process.env.BENCH_ISSUES ?? 10_000);
const CHANGED = Number(process.env.BENCH_CHANGED ?? 100);
const PAGE = 100;
const RUN_TIMEOUT_MS = Number(process.env.BENCH_RUN_TIMEOUT_MS ?? 600_000);
const OWNER = 'acme';
const REPO = 'app';
const USER = 'u1';
const WORKSPACE = 'ws1';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, digits: number) => Number(n.toFixed(digits));

/** Time spent waiting on DynamoDB (every request of the service's document client). */
function timeDynamo() {
  const time = { ms: 0 };
  const name = `bench-ddb-time-${Math.random().toString(36).slice(2)}`;
  db().middlewareStack.add(
    (next) => async (args) => {
      const t = performance.now();
      try {
        return await next(args);
      } finally {
        time.ms += performance.now() - t;
      }
    },
    { step: 'initialize', name },
  );
  return { time, stop: () => db().middlewareStack.remove(name) };
}

/** SQS sends of the service's own client (shared/queues.ts), by command and queue. */
function countSqsSends(urls: Record<string, string>) {
  const byQueue = new Map(Object.entries(urls).map(([name, url]) => [url, name]));
  const calls: { command: string; queue: string; entries: number }[] = [];
  const time = { ms: 0 };
  const name = `bench-sqs-${Math.random().toString(36).slice(2)}`;
  sqs().middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { QueueUrl?: string; Entries?: unknown[] };
      calls.push({
        command: String(context.commandName ?? 'unknown').replace(/Command$/, ''),
        queue: byQueue.get(input.QueueUrl ?? '') ?? (input.QueueUrl || '?'),
        entries: input.Entries?.length ?? 1,
      });
      const t = performance.now();
      try {
        return await next(args);
      } finally {
        time.ms += performance.now() - t;
      }
    },
    { step: 'initialize', name },
  );
  return {
    calls,
    time,
    reset: () => {
      calls.length = 0;
      time.ms = 0;
    },
    stop: () => sqs().middlewareStack.remove(name),
  };
}

interface RunFigures {
  status: string;
  error: RunItem['error'];
  duration_s: number;
  engine_duration_s: number;
  records: number;
  records_per_s: number;
  inbound: RunItem['inbound'];
  pages: number;
  provider_calls: number;
  provider_http_requests: number;
  conditional_requests: number;
  not_modified: number;
  invocations: number;
  checkpoint_from: string | null;
  checkpoint_to: string | null;
  dynamodb_requests: number;
  dynamodb_requests_per_record: number | null;
  dynamodb_requests_by_command: Record<string, number>;
  sqs_send_calls: number;
  records_per_sqs_call: number | null;
  sqs_calls_by_command_and_queue: Record<string, number>;
  records_queue_messages: number;
  /** Seconds the run waited on DynamoDB and on SQS (sequential waits; the rest is GitHub and CPU). */
  dynamodb_wait_s: number;
  sqs_wait_s: number;
  /** ETags the binding holds after the run (one per listing key). */
  binding_etags: number;
}

export async function benchBindings(opts: { json?: string } = {}): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-bindings-'));
  const gh = await startFakeGitHub({ acceptAnyToken: true });
  const appsFile = join(dir, 'apps.json');
  writeFileSync(
    appsFile,
    JSON.stringify([
      {
        id: 'github',
        name: 'GitHub (fake)',
        authorize_url: `${gh.url}/login/oauth/authorize`,
        token_url: `${gh.url}/login/oauth/access_token`,
        revoke_url: null,
        scopes: ['repo', 'read:user'],
        default_scopes: ['repo'],
        pkce: true,
        token_auth_method: 'client_secret_post',
        api_base_url: gh.url,
        sync_adapter: 'github',
      },
    ]),
  );
  process.env.OAUTH_APPS_FILE = appsFile;
  resetCatalog();
  let stack: LocalStack | undefined;
  const abort = new AbortController();
  const localSqs: SQSClient[] = [];
  let poller: Promise<void> | undefined;
  try {
    stack = await startLocalStack({
      dir,
      inMemory: true,
      port: 0,
      tableName: 'bench-bindings',
      workers: false,
      env: { RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '100000' },
    });
    resetCatalog();
    const s = stack;
    // The app's client credentials, as `npm run dev:secret` stores them (the file is re-read on change).
    const secretsFile = join(dir, 'secrets.json');
    const secrets = JSON.parse(readFileSync(secretsFile, 'utf8')) as Record<string, string>;
    secrets[`${process.env.SECRETS_PREFIX ?? 'pronaflow-integrations/'}oauth/github`] = JSON.stringify({
      client_id: 'local',
      client_secret: 'local',
    });
    writeFileSync(`${secretsFile}.tmp`, JSON.stringify(secrets), { mode: 0o600 });
    renameSync(`${secretsFile}.tmp`, secretsFile);

    const seedStarted = performance.now();
    gh.seed({ owner: OWNER, repo: REPO, issues: ISSUES });
    const seedMs = performance.now() - seedStarted;

    // Setup through the API: a direct connection and the THIRD_PARTY consent that covers it.
    const identity = await testIdentity();
    const jwt = await identity.jwt(USER, [{ id: WORKSPACE, role: 'member' }]);
    const api = async (path: string, body: unknown) => {
      const res = await fetch(`${s.baseUrl}/v1/integration${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const json = (await res.json()) as Record<string, unknown>;
      if (res.status >= 300) throw new Error(`POST ${path} answered ${res.status}: ${JSON.stringify(json)}`);
      return json;
    };
    const connection = await api('/oauth/connections', {
      oauth_app_id: 'github',
      access_token: 'gho_bench0000000000000000000000000000000',
      scopes: ['repo'],
    });
    const connectionId = connection.id as string;
    await api('/consents', {
      consent_type: 'THIRD_PARTY',
      resource_type: 'oauth_connection',
      resource_id: connectionId,
      description: 'Sync acme/app issues (bench)',
    });

    const resource: Resource = { type: 'github_repository', owner: OWNER, repo: REPO, kind: 'issues' };
    const bindingId = newId('bnd');
    const at = new Date().toISOString();
    const binding: BindingItem = {
      ...bindingKeys.binding(connectionId, bindingId),
      ...bindingKeys.ofWorkspace(WORKSPACE, bindingId),
      entity: 'SyncBinding',
      id: bindingId,
      workspace_id: WORKSPACE,
      connection_id: connectionId,
      app_id: 'github',
      adapter: 'github',
      created_by: USER,
      resource,
      resource_key: githubAdapter.resourceKey(resource),
      sync_entity: 'task',
      project_id: 'prj_bench',
      direction: 'INBOUND',
      field_mapping: GITHUB_TASK_MAPPING,
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
    };
    await db().send(new PutCommand({ TableName: tableName(), Item: binding }));

    // Uncounted clients of the bench's own: reading the run's state, the records queue, the poller.
    const reader = DynamoDBDocumentClient.from(
      new DynamoDBClient({
        endpoint: s.dynamoEndpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
    );
    const mkSqs = () => {
      const c = new SQSClient({
        endpoint: s.sqs.endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      });
      localSqs.push(c);
      return c;
    };
    const queueClient = mkSqs();
    const syncWorker = workers.find((w) => w.id === 'syncRuns');
    if (!syncWorker) throw new Error('no syncRuns worker in functions/features.ts');
    const workerErrors: string[] = [];
    poller = pollQueue({
      sqs: mkSqs(),
      worker: syncWorker,
      queueUrl: s.sqs.urls.sync as string,
      signal: abort.signal,
      onError: (err) => workerErrors.push((err as Error).message),
    });

    const recordsQueue = s.sqs.urls.records as string;
    const visibleRecords = async () => {
      const out = await queueClient.send(
        new GetQueueAttributesCommand({
          QueueUrl: recordsQueue,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      return (
        Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) +
        Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
      );
    };
    const readBinding = async () =>
      (
        await reader.send(
          new GetCommand({
            TableName: tableName(),
            Key: { pk: binding.pk, sk: binding.sk },
            ConsistentRead: true,
          }),
        )
      ).Item as BindingItem;

    const dynamo = countDynamoCalls();
    const sends = countSqsSends(s.sqs.urls as Record<string, string>);
    const dynamoTime = timeDynamo();

    const measureRun = async (): Promise<RunFigures> => {
      await queueClient.send(new PurgeQueueCommand({ QueueUrl: recordsQueue }));
      const current = await readBinding();
      const ghCallsBefore = gh.calls.length;
      dynamo.reset();
      sends.reset();
      dynamoTime.time.ms = 0;
      const started = performance.now();
      const run = await startRun(current, { trigger: 'manual' });
      const key = bindingKeys.run(connectionId, bindingId, run.id);
      let finished: RunItem | undefined;
      const deadline = Date.now() + RUN_TIMEOUT_MS;
      while (Date.now() < deadline) {
        const item = (
          await reader.send(new GetCommand({ TableName: tableName(), Key: key, ConsistentRead: true }))
        ).Item as RunItem | undefined;
        if (item && TERMINAL_RUN_STATUSES.includes(item.status)) {
          finished = item;
          break;
        }
        await sleep(25);
      }
      const seconds = (performance.now() - started) / 1000;
      // The run's last writes (the finish transaction, sync.completed) land right after its status.
      let last = -1;
      while (last !== dynamo.calls.length + sends.calls.length) {
        last = dynamo.calls.length + sends.calls.length;
        await sleep(300);
      }
      const final =
        finished ??
        ((await reader.send(new GetCommand({ TableName: tableName(), Key: key, ConsistentRead: true })))
          .Item as RunItem);
      const byCommand: Record<string, number> = {};
      for (const c of dynamo.calls) {
        const k = c.replace(/Command$/, '');
        byCommand[k] = (byCommand[k] ?? 0) + 1;
      }
      const sqsBy: Record<string, number> = {};
      for (const c of sends.calls)
        sqsBy[`${c.command} ${c.queue}`] = (sqsBy[`${c.command} ${c.queue}`] ?? 0) + 1;
      const recordBatches = sends.calls.filter(
        (c) => c.command === 'SendMessageBatch' && c.queue === 'records',
      );
      const records = recordBatches.reduce((n, c) => n + c.entries, 0);
      const ghCalls = gh.calls.slice(ghCallsBefore);
      return {
        status: finished ? final.status : `${final?.status ?? 'missing'} (timed out)`,
        error: final?.error ?? null,
        duration_s: round(seconds, 3),
        engine_duration_s: round((final?.duration_ms ?? 0) / 1000, 3),
        records,
        records_per_s: round(records / seconds, 1),
        inbound: final?.inbound,
        pages: final?.pages_fetched ?? 0,
        provider_calls: final?.provider_calls ?? 0,
        provider_http_requests: ghCalls.length,
        conditional_requests: ghCalls.filter((c) => c.conditional).length,
        not_modified: ghCalls.filter((c) => c.status === 304).length,
        invocations: final?.invocations ?? 0,
        checkpoint_from: final?.checkpoint_from ?? null,
        checkpoint_to: final?.checkpoint_to ?? null,
        dynamodb_requests: dynamo.calls.length,
        dynamodb_requests_per_record: records ? round(dynamo.calls.length / records, 4) : null,
        dynamodb_requests_by_command: byCommand,
        sqs_send_calls: recordBatches.length,
        records_per_sqs_call: recordBatches.length ? round(records / recordBatches.length, 2) : null,
        sqs_calls_by_command_and_queue: sqsBy,
        records_queue_messages: await visibleRecords(),
        dynamodb_wait_s: round(dynamoTime.time.ms / 1000, 3),
        sqs_wait_s: round(sends.time.ms / 1000, 3),
        binding_etags: Object.keys((await readBinding()).etags ?? {}).length,
      };
    };

    const full = await measureRun();
    const unchanged = await measureRun();
    // Someone edits CHANGED issues on GitHub (spread over the repository; updated_at becomes now).
    for (let i = 0; i < CHANGED; i++) {
      const n = 1 + Math.floor((i * ISSUES) / CHANGED);
      gh.editIssue(OWNER, REPO, n, { title: `Edited issue ${n}` });
    }
    const changed = await measureRun();
    // And nothing changes again: the listing since the new checkpoint is asked for the first time.
    const unchangedAgain = await measureRun();
    const unchangedThird = await measureRun();
    dynamo.stop();
    sends.stop();
    dynamoTime.stop();

    const figures = {
      issues: ISSUES,
      seed_ms: Math.round(seedMs),
      records: full.records,
      duration_s: full.duration_s,
      records_per_s: full.records_per_s,
      pages: full.pages,
      provider_calls: full.provider_calls,
      dynamodb_requests: full.dynamodb_requests,
      dynamodb_requests_per_record: full.dynamodb_requests_per_record,
      dynamodb_requests_by_command: full.dynamodb_requests_by_command,
      sqs_send_calls: full.sqs_send_calls,
      records_per_sqs_call: full.records_per_sqs_call,
      full,
      unchanged,
      changed: { issues_changed: CHANGED, ...changed },
      unchanged_after_change: unchangedAgain,
      unchanged_once_more: unchangedThird,
      worker_errors: workerErrors,
    };

    console.log(
      `\nBindings: inbound sync of ${ISSUES} GitHub issues (fake GitHub, DynamoDB Local, SQS emulator)`,
    );
    const names = ['full', 'unchanged', 'changed', 'unchanged_after_change', 'unchanged_once_more'] as const;
    const rows = names.map((name) => {
      const r = figures[name];
      return {
        run: name,
        status: r.status,
        records: r.records,
        duration_s: r.duration_s,
        records_per_s: r.records_per_s,
        pages: r.pages,
        provider_calls: r.provider_calls,
        '304s': r.not_modified,
        invocations: r.invocations,
        dynamodb_requests: r.dynamodb_requests,
        'ddb/record': r.dynamodb_requests_per_record ?? '-',
        sqs_send_calls: r.sqs_send_calls,
        'records/sqs call': r.records_per_sqs_call ?? '-',
        ddb_wait_s: r.dynamodb_wait_s,
        sqs_wait_s: r.sqs_wait_s,
        etags: r.binding_etags,
      };
    });
    console.table(rows);
    for (const name of names) {
      const r = figures[name];
      console.log(`${name}: inbound`, r.inbound, 'checkpoint', r.checkpoint_from, '→', r.checkpoint_to);
      console.log(`${name}: DynamoDB requests by command`, r.dynamodb_requests_by_command);
      console.log(`${name}: SQS calls`, r.sqs_calls_by_command_and_queue);
    }

    const warnings: string[] = [];
    const notes: string[] = [];
    const expect = (name: string, ok: boolean, what: string) => {
      if (!ok) warnings.push(`${name}: ${what}`);
    };
    for (const name of names) {
      const r = figures[name];
      expect(
        name,
        r.status === 'SUCCEEDED',
        `status ${r.status}${r.error ? ` (${r.error.code}: ${r.error.message})` : ''}`,
      );
      expect(
        name,
        r.records === r.records_queue_messages,
        `${r.records} records sent, ${r.records_queue_messages} on the records queue`,
      );
    }
    expect('full', full.records === ISSUES, `${full.records} records, expected ${ISSUES}`);
    expect('full', full.inbound?.added === ISSUES, `${full.inbound?.added} added, expected ${ISSUES}`);
    // Keyset pages (one issue a second): after the first, each page's first place is the page
    // before's last issue (dropped), so 99 new issues a page.
    const pages = ISSUES <= PAGE ? 1 : 1 + Math.ceil((ISSUES - PAGE) / (PAGE - 1));
    expect('full', full.pages === pages, `${full.pages} pages, expected ${pages}`);
    for (const name of ['unchanged', 'unchanged_after_change'] as const) {
      const r = figures[name];
      expect(name, r.records === 0, `${r.records} records, expected 0`);
      expect(
        name,
        r.provider_http_requests === 1,
        `${r.provider_http_requests} provider requests, expected 1`,
      );
      if (r.not_modified === 0) {
        notes.push(
          `${name}: the first listing since checkpoint ${r.checkpoint_from} is not conditional (no ETag for it yet): 1 counted request, not a 304`,
        );
      }
    }
    const again = figures.unchanged_once_more;
    expect('unchanged_once_more', again.records === 0, `${again.records} records, expected 0`);
    expect(
      'unchanged_once_more',
      again.provider_http_requests === 1 && again.conditional_requests === 1 && again.not_modified === 1,
      `${again.provider_http_requests} provider request(s), ${again.conditional_requests} conditional, ${again.not_modified} answered 304; expected 1 conditional request answered 304`,
    );
    expect(
      'etags',
      unchangedThird.binding_etags <= 1,
      `the binding holds ${unchangedThird.binding_etags} ETags (one per checkpoint it listed from)`,
    );
    expect('changed', changed.records === CHANGED, `${changed.records} records, expected ${CHANGED}`);
    expect(
      'changed',
      changed.inbound?.updated === CHANGED,
      `${changed.inbound?.updated} updated, expected ${CHANGED}`,
    );
    expect('all', workerErrors.length === 0, `worker errors: ${workerErrors.join(' | ')}`);
    for (const n of notes) console.log(`NOTE ${n}`);
    for (const w of warnings) console.log(`WARNING ${w}`);
    if (opts.json) {
      writeFileSync(opts.json, `${JSON.stringify({ ...figures, notes, warnings }, null, 2)}\n`);
      console.log(`(figures written to ${opts.json})`);
    }
  } finally {
    abort.abort();
    await poller?.catch(() => undefined);
    for (const c of localSqs) c.destroy();
    await stack?.stop();
    await gh.stop();
    delete process.env.OAUTH_APPS_FILE;
    resetCatalog();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchBindings();
  process.exit(0);
}
