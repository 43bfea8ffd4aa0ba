import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { loadOrCreateDevKeys, signSessionJwt } from '#infra/local/dev-keys.ts';
import { type LocalStack, startLocalStack } from '#infra/local/stack.ts';

/**
 * Settings the local runtime takes from its environment, as `npm start` gets them from the shell.
 */
let stack: LocalStack | undefined;
// One folder (so one session key: the verifier caches it per process) for the file's stacks.
const dir = mkdtempSync(join(tmpdir(), 'pf-settings-'));
const saved = process.env.ALLOW_LOOPBACK_TARGETS;

afterEach(async () => {
  await stack?.stop();
  stack = undefined;
  if (saved === undefined) delete process.env.ALLOW_LOOPBACK_TARGETS;
  else process.env.ALLOW_LOOPBACK_TARGETS = saved;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Starts the runtime with `allowLoopback` in the shell's environment and creates a webhook on 127.0.0.1. */
async function createLoopbackWebhook(allowLoopback: string | undefined) {
  if (allowLoopback === undefined) delete process.env.ALLOW_LOOPBACK_TARGETS;
  else process.env.ALLOW_LOOPBACK_TARGETS = allowLoopback;
  stack = await startLocalStack({
    dir,
    inMemory: true,
    dynamoEndpoint: inject('dynamoEndpoint'),
    tableName: `settings-${randomBytes(4).toString('hex')}`,
    port: 0,
    workers: false,
  });
  const jwt = await signSessionJwt({
    keys: await loadOrCreateDevKeys(join(dir, 'session-keys.json')),
    userId: 'u1',
    workspaces: [{ id: 'ws1', role: 'admin' }],
    issuer: 'https://identity.pronaflow.local',
    audience: 'pronaflow-integrations',
  });
  const res = await fetch(`${stack.baseUrl}/v1/integration/webhooks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'local receiver',
      url: 'http://127.0.0.1:4000/hook',
      events: { 'task.created': true },
      retry_policy: 'NONE',
    }),
  });
  return { status: res.status, body: (await res.json()) as { errors?: { path: string }[] } };
}

describe('local runtime settings', () => {
  it('honours ALLOW_LOOPBACK_TARGETS=false: a loopback webhook target is refused, as in AWS', async () => {
    const res = await createLoopbackWebhook('false');
    expect(stack?.env.ALLOW_LOOPBACK_TARGETS).toBe('false');
    expect(res.status).toBe(400);
    expect(res.body.errors?.map((e) => e.path)).toContain('body.url');
  });

  it('allows loopback targets by default (local receivers and fake providers)', async () => {
    const res = await createLoopbackWebhook(undefined);
    expect(stack?.env.ALLOW_LOOPBACK_TARGETS).toBe('true');
    expect(res.status).toBe(201);
  });

  it('treats an empty ALLOW_LOOPBACK_TARGETS as unset', async () => {
    const res = await createLoopbackWebhook('');
    expect(res.status).toBe(201);
  });
});
