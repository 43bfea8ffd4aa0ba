import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import { workers } from '#functions/features.ts';
import { config, resetConfig, validateConfig } from '#shared/config.ts';
// Registers the OAUTH_APPS_FILE settings check, so a bad apps file stops `npm start` before anything starts.
import '#shared/oauth/catalog.ts';
import { KEYRING_SECRET, newKeyring, newPseudonymKey } from '#shared/crypto.ts';
import { resetDb } from '#shared/db/client.ts';
import { resetObjects } from '#shared/objects.ts';
import { resetSqs } from '#shared/queues.ts';
import { setSecretSource } from '#shared/secrets.ts';
import { loadOrCreateDevKeys } from './dev-keys.ts';
import { ensureTable, startDynamo } from './dynamo.ts';
import { createHttpApi } from './http-server.ts';
import { pollQueue, runAfterDeploy, runSchedule } from './poller.ts';
import { ensureBuckets, type LocalBuckets } from './s3.ts';
import { type LocalSqs, startSqs } from './sqs.ts';

export interface LocalStackOptions {
  /** HTTP port; 0 picks a free one. */
  port?: number;
  /** Folder for keys, secrets and (unless `inMemory`) DynamoDB data, the queues' messages and the buckets' objects. */
  dir: string;
  /** Keep DynamoDB data (when started here), the queues and the buckets in memory. */
  inMemory?: boolean;
  /** Use an already running DynamoDB Local instead of starting one. */
  dynamoEndpoint?: string;
  tableName?: string;
  /** Extra environment for the handlers (e.g. shorter retry delays in tests). */
  env?: Record<string, string>;
  /** Start the queue pollers (default true). */
  workers?: boolean;
  onWorkerError?: (err: unknown) => void;
  /** Concurrent batches per queue worker (default 4). */
  workerConcurrency?: number;
}

export interface LocalStack {
  baseUrl: string;
  port: number;
  sqs: LocalSqs;
  /** The buckets, in the S3 API of the same emulator (`sqs.endpoint`). */
  buckets: LocalBuckets;
  dynamoEndpoint: string;
  env: Record<string, string>;
  stop: () => Promise<void>;
}

/**
 * Starts the whole service on this machine: DynamoDB Local, the SQS emulator with the stack's
 * queues and DLQs (and, in its S3 API, the stack's buckets), the local secret source, the HTTP
 * API over the route table's handlers and a poller per queue worker. Handlers run in this process with the environment they get in AWS.
 */
export async function startLocalStack(opts: LocalStackOptions): Promise<LocalStack> {
  mkdirSync(opts.dir, { recursive: true });
  const keysFile = join(opts.dir, 'session-keys.json');
  const secretsFile = join(opts.dir, 'secrets.json');
  if (!existsSync(secretsFile)) {
    // First start: a random data-encryption keyring, as the CDK stack generates in AWS.
    const prefix = process.env.SECRETS_PREFIX ?? 'pronaflow-integrations/';
    const initial = { [`${prefix}${KEYRING_SECRET}`]: JSON.stringify(newKeyring()) };
    writeFileSync(secretsFile, JSON.stringify(initial, null, 2), { mode: 0o600 });
  } else completeKeyring(secretsFile);
  const keys = await loadOrCreateDevKeys(keysFile);
  // Local webhook receivers and fake OAuth providers live on 127.0.0.1, so loopback and http
  // targets are allowed by default; ALLOW_LOOPBACK_TARGETS=false turns the SSRF guard on, as in
  // AWS (where the stack refuses anything else).
  const allowLoopback = process.env.ALLOW_LOOPBACK_TARGETS || 'true';
  // A bad setting fails here, before anything is started, judged with the local defaults applied.
  validateConfig({ ...process.env, ALLOW_LOOPBACK_TARGETS: allowLoopback, ...opts.env });

  // Whatever started is stopped again if a later step fails, so no JVM is left behind.
  const cleanups: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  };
  try {
    let dynamoEndpoint = opts.dynamoEndpoint;
    if (!dynamoEndpoint) {
      const dynamo = await startDynamo(
        opts.inMemory ? {} : { dataDir: ensureDir(join(opts.dir, 'dynamodb')) },
      );
      cleanups.push(dynamo.stop);
      dynamoEndpoint = dynamo.endpoint;
    }
    // Queues live with the data: a restart resumes delayed retries and unfinished jobs.
    const sqs = await startSqs(opts.inMemory ? {} : { dataDir: ensureDir(join(opts.dir, 'sqs')) });
    cleanups.push(sqs.stop);
    // The same emulator serves S3 and keeps objects in the same data folder: uploads survive a restart.
    const buckets = await ensureBuckets(sqs.endpoint);

    let markReady: () => void = () => {};
    const ready = new Promise<void>((resolve) => {
      markReady = resolve;
    });
    const server = createHttpApi(undefined, ready);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, '127.0.0.1', resolve);
    });
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    const port = (server.address() as AddressInfo).port;
    const baseUrl = `http://127.0.0.1:${port}`;

    const env: Record<string, string> = {
      AWS_REGION: 'us-east-1',
      TABLE_NAME: opts.tableName ?? 'pronaflow-integrations',
      DYNAMODB_ENDPOINT: dynamoEndpoint,
      SQS_ENDPOINT: sqs.endpoint,
      ...sqs.env,
      ...buckets.env,
      SECRETS_SOURCE: 'file',
      LOCAL_SECRETS_FILE: secretsFile,
      AUTH_JWT_PUBLIC_KEY: JSON.stringify(keys.publicJwk),
      ALLOW_LOOPBACK_TARGETS: allowLoopback,
      // OAuth providers send the browser back to this very server, whatever PORT it got.
      OAUTH_REDIRECT_URI_BASE: process.env.OAUTH_REDIRECT_URI_BASE ?? baseUrl,
      // No X-Ray daemon here: tracing is off (shared/tracing.ts), and EMF metrics stay off the
      // terminal unless asked for (POWERTOOLS_METRICS_DISABLED=false npm start prints them).
      POWERTOOLS_TRACE_ENABLED: process.env.POWERTOOLS_TRACE_ENABLED ?? 'false',
      POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED ?? 'true',
      ...opts.env,
    };
    Object.assign(process.env, env);
    resetConfig();
    resetDb();
    resetSqs();
    resetObjects();
    setSecretSource(undefined);
    config();
    await ensureTable(dynamoEndpoint, env.TABLE_NAME as string);

    const abort = new AbortController();
    const sqsClient = new SQSClient({
      endpoint: sqs.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const onError = opts.onWorkerError ?? ((err: unknown) => console.error('local worker error', err));
    const polls: Promise<void>[] = [];
    cleanups.push(async () => {
      abort.abort();
      await Promise.allSettled(polls);
      sqsClient.destroy();
    });
    // What a deployment runs once it is in place (seeding), before the service answers.
    for (const worker of workers) await runAfterDeploy(worker);
    if (opts.workers !== false) {
      for (const worker of workers) {
        if ('afterDeploy' in worker.trigger) continue;
        if ('queue' in worker.trigger) {
          // Lambda runs several batches of one queue at once; so does the local runtime.
          for (let i = 0; i < (opts.workerConcurrency ?? 4); i++) {
            polls.push(
              pollQueue({
                sqs: sqsClient,
                worker,
                queueUrl: sqs.urls[worker.trigger.queue],
                signal: abort.signal,
                onError,
              }),
            );
          }
        } else {
          runSchedule(worker, abort.signal, onError);
        }
      }
    }

    markReady();
    return { baseUrl, port, sqs, buckets, dynamoEndpoint, env, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * A secrets file without the keyring (`npm run dev:secret` ran before the first start) gets one;
 * a keyring of an earlier local start gets the pseudonym key it lacks, as the keyring initialiser
 * does in AWS.
 */
function completeKeyring(secretsFile: string): void {
  const prefix = process.env.SECRETS_PREFIX ?? 'pronaflow-integrations/';
  const all = JSON.parse(readFileSync(secretsFile, 'utf8')) as Record<string, string>;
  const raw = all[`${prefix}${KEYRING_SECRET}`];
  if (!raw) {
    all[`${prefix}${KEYRING_SECRET}`] = JSON.stringify(newKeyring());
    writeFileSync(secretsFile, JSON.stringify(all, null, 2), { mode: 0o600 });
    return;
  }
  const ring = JSON.parse(raw) as { pseudonym_key?: string };
  if (ring.pseudonym_key) return;
  all[`${prefix}${KEYRING_SECRET}`] = JSON.stringify({ ...ring, pseudonym_key: newPseudonymKey() });
  writeFileSync(secretsFile, JSON.stringify(all, null, 2), { mode: 0o600 });
}

function ensureDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}
