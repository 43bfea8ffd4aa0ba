/**
 * What the plugin tests share: a table, the SQS emulator with the stack's queues and the local S3
 * (the same fauxqs server) with the stack's buckets, a keyring, sessions, and a way to run the
 * plugin jobs the handlers queued, as the worker would.
 */
import { randomBytes } from 'node:crypto';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { beforeAll } from 'vitest';
import { handler as jobsH } from '#functions/plugins/plugin-jobs.ts';
import { ensureBuckets } from '#infra/local/s3.ts';
import type { Caller } from '#shared/http/caller.ts';
import { resetObjects } from '#shared/objects.ts';
import { sqs } from '#shared/queues.ts';
import { setEnv, useTestSqs, useTestTable } from '#test/helpers/env.ts';
import { drainQueue } from '#test/helpers/queue-worker.ts';
import { useMemorySecrets } from '#test/helpers/secrets.ts';
import { type TestIdentity, testIdentity } from '#test/helpers/session.ts';

export interface PluginsHarness {
  id: TestIdentity;
  /** Sessions: admin and member of ws1, admin of ws2, an operator (admin of ops). */
  admin: string;
  member: string;
  admin2: string;
  operator: string;
}

export function usePluginsHarness(): PluginsHarness {
  useTestTable();
  const local = useTestSqs();
  const h = {} as PluginsHarness;
  beforeAll(async () => {
    useMemorySecrets();
    const buckets = await ensureBuckets(local.current.endpoint, {
      prefix: `p${randomBytes(3).toString('hex')}`,
    });
    setEnv({ ...buckets.env, RATE_LIMIT_TIER_FREE_REQ_PER_MIN: '100000' });
    resetObjects();
    h.id = await testIdentity();
    h.admin = await h.id.jwt('alice', [{ id: 'ws1', role: 'admin' }]);
    h.member = await h.id.jwt('bob', [{ id: 'ws1', role: 'member' }]);
    h.admin2 = await h.id.jwt('dave', [{ id: 'ws2', role: 'admin' }]);
    h.operator = await h.id.jwt('olga', [{ id: 'ops', role: 'admin' }], { operator: true });
  });
  return h;
}

/** Runs the plugin jobs on their queue until it is empty (each job may queue the next page). */
export const drainPluginJobs = (max = 200): Promise<number> =>
  drainQueue(process.env.PLUGIN_JOBS_QUEUE_URL as string, jobsH, { max, name: 'plugins' });

/** The events this service raised on the ingest queue since the last call (consumed). */
export async function raisedEvents(): Promise<
  { type: string; workspace_id: string; data: Record<string, unknown> }[]
> {
  const url = process.env.INGEST_QUEUE_URL as string;
  const events = [];
  for (;;) {
    const out = await sqs().send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }));
    if (!out.Messages?.length) return events;
    for (const m of out.Messages) {
      events.push(JSON.parse(m.Body as string));
      await sqs().send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle as string }));
    }
  }
}

/** An operator caller, for calling the domain functions directly. */
export const operatorCaller: Caller = {
  kind: 'session',
  userId: 'olga',
  workspaceId: 'ops',
  role: 'admin',
  workspaces: [{ id: 'ops', role: 'admin' }],
  operator: true,
};
