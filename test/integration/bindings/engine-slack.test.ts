import { describe, expect, it } from 'vitest';
import { workOnRun } from '#shared/bindings/engine.ts';
import { pronaflowIdFor } from '#shared/bindings/records.ts';
import { startRun } from '#shared/bindings/runs.ts';
import type { BindingItem } from '#shared/bindings/store.ts';
import { messageOf, useBindingsEnv } from '#test/helpers/bindings.ts';

// The same engine against a provider of another shape: a Slack channel's messages as tasks
// (body cursors, newest first, ts checkpoints, deletions that only a full run can see).

const env = useBindingsEnv();

const channelOf = (b: BindingItem) => b.resource.channel as string;

async function runOnce(binding: BindingItem, full = false) {
  const run = await startRun(await env.binding(binding), { trigger: 'manual', full });
  for (let i = 0; i < 10; i++) if ((await workOnRun(messageOf(run), env.opts())) === 'finished') break;
  return env.run(run);
}

describe('a Slack channel inbound', () => {
  it('messages become tasks (text → title) with the right counts, pages and checkpoint', async () => {
    const binding = await env.makeBinding({ app_id: 'slack' });
    const channel = channelOf(binding);
    env.slack.createChannel(channel);
    const ts = env.slack.seed(channel, 450, { user: 'U0PERSON01', prefix: 'Request' });
    env.slack.join(channel, 'U0PERSON02');
    const run = await runOnce(binding);
    expect(run.status).toBe('SUCCEEDED');
    expect(run.inbound).toEqual({ added: 450, updated: 0, deleted: 0, skipped: 0, failed: 0 });
    expect(run.pages_fetched).toBe(3);
    const last = env.slack.messages(channel).at(-1)?.ts;
    expect(run.checkpoint_to).toBe(last);
    expect((await env.binding(binding)).checkpoint).toBe(last);
    const records = await env.records();
    expect(records).toHaveLength(450);
    const first = records.find((r) => r.external.id === ts[0]);
    expect(first).toMatchObject({
      op: 'upsert',
      created: true,
      external: { provider: 'slack', id: ts[0] },
      values: { title: 'Request 1' },
      pronaflow_id: pronaflowIdFor('task', binding.id, ts[0] as string),
    });

    // Incremental: only what was posted after the checkpoint.
    env.slack.post(channel, 'One more thing', { user: 'U0PERSON01' });
    const next = await runOnce(binding);
    expect(next.inbound).toMatchObject({ added: 1, updated: 0, deleted: 0 });
    expect(next.checkpoint_from).toBe(last);
    expect((await env.records()).map((r) => r.values.title)).toEqual(['One more thing']);
  });

  it('a full run sees a deleted message and an edited one', async () => {
    const binding = await env.makeBinding({ app_id: 'slack' });
    const channel = channelOf(binding);
    env.slack.createChannel(channel);
    const ts = env.slack.seed(channel, 6, { user: 'U0PERSON01' });
    await runOnce(binding);
    await env.records();
    env.slack.deleteMessage(channel, ts[2] as string);
    env.slack.edit(channel, ts[4] as string, 'Edited request');
    // An incremental run sees neither (Slack keeps a message at its ts).
    const incremental = await runOnce(binding);
    expect(incremental.inbound).toMatchObject({ added: 0, updated: 0, deleted: 0 });
    expect(await env.records()).toEqual([]);
    const full = await runOnce(binding, true);
    expect(full.status).toBe('SUCCEEDED');
    expect(full.inbound).toMatchObject({ added: 0, updated: 1, deleted: 1, failed: 0 });
    const records = await env.records();
    expect(records.find((r) => r.op === 'delete')).toMatchObject({
      external: { id: ts[2] },
      pronaflow_id: pronaflowIdFor('task', binding.id, ts[2] as string),
    });
    expect(records.find((r) => r.op === 'upsert')?.values.title).toBe('Edited request');
  });

  it('a deleted thread parent (a tombstone in the listing) is deleted by the listing itself', async () => {
    const binding = await env.makeBinding({ app_id: 'slack' });
    const channel = channelOf(binding);
    env.slack.createChannel(channel);
    const ts = env.slack.seed(channel, 3, { user: 'U0PERSON01' });
    env.slack.reply(channel, ts[1] as string, 'A reply', { user: 'U0PERSON02' });
    const first = await runOnce(binding);
    expect(first.inbound.added).toBe(3);
    await env.records();
    env.slack.deleteMessage(channel, ts[1] as string);
    env.slack.calls.length = 0;
    const full = await runOnce(binding, true);
    expect(full.inbound).toMatchObject({ added: 0, updated: 0, deleted: 1, failed: 0 });
    expect((await env.records()).map((r) => [r.op, r.external.id])).toEqual([['delete', ts[1]]]);
    // Seen deleted in the listing: no message was read one by one.
    expect(env.slack.calls.filter((c) => c.method !== 'conversations.history')).toEqual([]);
  });
});
