import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, inject } from 'vitest';
import { loadOrCreateDevKeys, signSessionJwt } from '#infra/local/dev-keys.ts';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '#infra/local/stack.ts';

export interface E2E {
  stack: LocalStack;
  /** `http://127.0.0.1:<port>/v1/integration` */
  api: string;
  dir: string;
  /** A session JWT signed with the running stack's key, as `npm run dev:token` prints. */
  session: (userId?: string, workspaces?: { id: string; role: 'member' | 'admin' }[]) => Promise<string>;
  /** A JSON request with a bearer credential. */
  call: (path: string, token: string, init?: RequestInit) => Promise<Response>;
  /**
   * Sends a PronaFlow event to the running stack's ingest queue, as an event source (or
   * `npm run -s emit`) does; `occurred_at` is now unless given.
   */
  emit: (event: {
    id: string;
    type: string;
    workspace_id: string;
    data: unknown;
    occurred_at?: string;
  }) => Promise<void>;
}

/**
 * Runs the whole service in-process for the calling test file (the run's DynamoDB Local, a
 * table of its own, the SQS emulator, queue workers) and speaks HTTP to it like a client.
 */
export function useLocalStack(
  name: string,
  opts: Partial<LocalStackOptions> & {
    before?: (dir: string) => Promise<Partial<LocalStackOptions> | undefined>;
  } = {},
): E2E {
  const ref = {} as E2E;
  beforeAll(async () => {
    ref.dir = mkdtempSync(join(tmpdir(), `e2e-${name}-`));
    const extra = (await opts.before?.(ref.dir)) ?? {};
    ref.stack = await startLocalStack({
      dir: ref.dir,
      inMemory: true,
      dynamoEndpoint: inject('dynamoEndpoint'),
      tableName: `e2e-${name}-${randomBytes(4).toString('hex')}`,
      port: 0,
      onWorkerError: () => {},
      ...opts,
      ...extra,
      env: { ...opts.env, ...extra.env },
    });
    ref.api = `${ref.stack.baseUrl}/v1/integration`;
    const keys = await loadOrCreateDevKeys(join(ref.dir, 'session-keys.json'));
    ref.session = (userId = 'u1', workspaces = [{ id: 'ws1', role: 'admin' }]) =>
      signSessionJwt({
        keys,
        userId,
        workspaces,
        issuer: 'https://identity.pronaflow.local',
        audience: 'pronaflow-integrations',
      });
    ref.call = (path, token, init = {}) =>
      fetch(`${ref.api}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers },
      });
    let sqs: SQSClient | undefined;
    ref.emit = async (event) => {
      sqs ??= new SQSClient({
        endpoint: ref.stack.sqs.endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      });
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: ref.stack.sqs.urls.ingest,
          MessageBody: JSON.stringify({ occurred_at: new Date().toISOString(), ...event }),
        }),
      );
    };
    stopEmitter = () => sqs?.destroy();
  }, 60_000);
  let stopEmitter = () => {};
  afterAll(async () => {
    stopEmitter();
    await ref.stack?.stop();
    if (ref.dir) rmSync(ref.dir, { recursive: true, force: true });
  });
  return ref;
}

/** Polls `fn` until it returns a value (for work done by background workers). */
export async function eventually<T>(fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
