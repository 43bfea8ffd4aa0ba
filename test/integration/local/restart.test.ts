import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { loadOrCreateDevKeys, signSessionJwt } from '#infra/local/dev-keys.ts';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '#infra/local/stack.ts';
import { eventually } from '#test/helpers/local-stack.ts';
import { type Receiver, startReceiver } from '#test/integration/webhooks/webhooks-harness.ts';

/**
 * A restart of the local runtime (as `npm start` after Ctrl-C) resumes its queued work: the
 * queues live in the data folder with DynamoDB's data, so a webhook retry waiting in a delayed
 * message is still made after the restart.
 */
const dir = mkdtempSync(join(tmpdir(), 'pf-restart-'));
const options: LocalStackOptions = {
  dir,
  // The run's DynamoDB Local with a table of this file's (it keeps its data across the restart);
  // the queues are kept in `dir`, as `npm start` keeps them in .local.
  dynamoEndpoint: inject('dynamoEndpoint'),
  tableName: `restart-${randomBytes(4).toString('hex')}`,
  port: 0,
  onWorkerError: () => {},
  env: { WEBHOOK_RETRY_BACKOFF_SECONDS: '4', WEBHOOK_MAX_RETRIES: '2', WEBHOOK_TIMEOUT_SECONDS: '5' },
};
let stack: LocalStack | undefined;
let receiver: Receiver | undefined;
afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface DeliveryView {
  id: string;
  status: string;
  attempt_count: number;
}

describe('local runtime restart', () => {
  it('keeps a webhook retry waiting in a delayed message and makes it after the restart', async () => {
    receiver = await startReceiver();
    receiver.on('/hook', (n) => ({ status: n === 0 ? 500 : 200 }));
    stack = await startLocalStack(options);
    const jwt = await signSessionJwt({
      keys: await loadOrCreateDevKeys(join(dir, 'session-keys.json')),
      userId: 'u1',
      workspaces: [{ id: 'ws1', role: 'admin' }],
      issuer: 'https://identity.pronaflow.local',
      audience: 'pronaflow-integrations',
    });
    const call = (path: string, init: RequestInit = {}) =>
      fetch(`${(stack as LocalStack).baseUrl}/v1/integration${path}`, {
        ...init,
        headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
      });
    const created = await call('/webhooks', {
      method: 'POST',
      body: JSON.stringify({
        name: 'retried',
        url: receiver.url('/hook'),
        events: { 'task.created': true },
        retry_policy: 'LINEAR',
      }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const sqs = new SQSClient({
      endpoint: stack.sqs.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const event = { id: 'evt_restart', type: 'task.created', workspace_id: 'ws1', data: { task_id: 't1' } };
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: stack.sqs.urls.ingest,
        MessageBody: JSON.stringify({ ...event, occurred_at: new Date().toISOString() }),
      }),
    );
    sqs.destroy();
    const deliveries = async () =>
      ((await (await call(`/webhooks/${id}/deliveries`)).json()) as { data: DeliveryView[] }).data;

    // The first attempt got a 500: the retry waits 4 s in a delayed message.
    const first = await eventually(async () => {
      const [d] = await deliveries();
      return d?.attempt_count === 1 ? d : undefined;
    });
    expect(first.status).toBe('PENDING');
    await stack.stop();
    stack = undefined;
    expect(receiver.received).toHaveLength(1);

    stack = await startLocalStack(options);
    const done = await eventually(async () => {
      const [d] = await deliveries();
      return d?.status === 'DELIVERED' ? d : undefined;
    }, 20_000);
    expect(done.attempt_count).toBe(2);
    expect(receiver.received).toHaveLength(2);
  }, 60_000);
});
