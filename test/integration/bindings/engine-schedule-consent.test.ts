import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { bindingsConsumers } from '#shared/bindings/consumer.ts';
import { workOnRun } from '#shared/bindings/engine.ts';
import { bindingKeys } from '#shared/bindings/keys.ts';
import { startRun } from '#shared/bindings/runs.ts';
import { startDueRuns, writeScheduleMarker } from '#shared/bindings/schedule.ts';
import { type BindingItem, updateBinding } from '#shared/bindings/store.ts';
import { grantConsent, revokeConsent } from '#shared/consents/service.ts';
import { db, tableName } from '#shared/db/client.ts';
import { ingestMessage } from '#shared/events/ingest.ts';
import { messageOf, useBindingsEnv } from '#test/helpers/bindings.ts';

// Scheduled bindings (the due markers of gsi1) and consent: a run moves a user's data only while
// their THIRD_PARTY consent for the connection is live.

const env = useBindingsEnv();

const marker = async (b: BindingItem) =>
  (
    await db().send(
      new GetCommand({
        TableName: tableName(),
        Key: bindingKeys.schedule(b.connection_id, b.id),
        ConsistentRead: true,
      }),
    )
  ).Item as { next_run_at: string; gsi1sk: string } | undefined;

describe('scheduled runs', () => {
  it('a due marker starts one run and moves on; a busy binding is deferred; the run’s end sets the next', async () => {
    const now = new Date(env.clock.now());
    const due = new Date(now.getTime() - 60_000).toISOString();
    const idle = await env.makeBinding({ schedule: { every_minutes: 15 } });
    env.gh.seed({ owner: 'acme', repo: idle.resource.repo as string, issues: 3 });
    await writeScheduleMarker(idle, due);
    const busy = await env.makeBinding({ schedule: { every_minutes: 15 } });
    const busyRun = await startRun(busy, { trigger: 'manual' });
    await writeScheduleMarker(busy, due);
    const notYet = await env.makeBinding({ schedule: { every_minutes: 15 } });
    await writeScheduleMarker(notYet, new Date(now.getTime() + 5 * 60_000).toISOString());
    await env.receiveAll(env.queues.sync);

    const stats = await startDueRuns({ now });
    expect(stats).toEqual({ started: 1, deferred: 1, removed: 0 });
    const next = new Date(now.getTime() + 15 * 60_000).toISOString();
    expect((await marker(idle))?.next_run_at).toBe(next);
    expect((await marker(busy))?.next_run_at).toBe(next);
    expect((await marker(notYet))?.next_run_at).toBe(new Date(now.getTime() + 5 * 60_000).toISOString());
    const started = await env.binding(idle);
    expect(started.active_run_id).toBeDefined();
    expect((await env.binding(busy)).active_run_id).toBe(busyRun.id);
    const messages = await env.receiveAll<{ run_id: string }>(env.queues.sync);
    expect(messages.map((m) => m.run_id)).toEqual([started.active_run_id]);

    // Nothing is due any more: a second pass starts nothing.
    expect(await startDueRuns({ now })).toEqual({ started: 0, deferred: 0, removed: 0 });

    const run = {
      connection_id: idle.connection_id,
      binding_id: idle.id,
      id: started.active_run_id as string,
    };
    expect(await workOnRun(messageOf(run), env.opts())).toBe('finished');
    const done = await env.run(run);
    expect(done).toMatchObject({ status: 'SUCCEEDED', trigger: 'schedule' });
    expect(done.inbound.added).toBe(3);
    const after = await env.binding(idle);
    expect(after.next_run_at).not.toBeNull();
    expect((await marker(idle))?.next_run_at).toBe(after.next_run_at);
    expect(Date.parse(after.next_run_at as string) - Date.parse(done.finished_at as string)).toBe(
      15 * 60_000,
    );
  });

  it('a marker of a binding without a schedule is removed', async () => {
    const b = await env.makeBinding({ schedule: { every_minutes: 30 } });
    await writeScheduleMarker(b, new Date(env.clock.now() - 1000).toISOString());
    await env.makeBinding({ ...b, schedule: null });
    expect(await startDueRuns({ now: new Date(env.clock.now()) })).toEqual({
      started: 0,
      deferred: 0,
      removed: 1,
    });
    expect(await marker(b)).toBeUndefined();
  });
});

describe('a binding paused during its run', () => {
  it('its run stops at its next share, CANCELLED binding_paused, its counts kept', async () => {
    const binding = await env.makeBinding();
    env.gh.seed({ owner: 'acme', repo: binding.resource.repo as string, issues: 150 });
    const run = await startRun(binding, { trigger: 'manual' });
    expect(await workOnRun(messageOf(run), env.opts({ maxPages: 1 }))).toBe('continued');
    // PATCH { active: false } (the bindings API) writes only the binding.
    await updateBinding(await env.binding(binding), {
      status: 'PAUSED',
      status_reason: { code: 'paused', message: 'Paused by alice' },
    });
    env.gh.calls.length = 0;
    expect(await workOnRun(messageOf(run), env.opts())).toBe('finished');
    const after = await env.run(run);
    expect(after).toMatchObject({ status: 'CANCELLED', error: { code: 'binding_paused' } });
    expect(after.inbound.added).toBe(100);
    expect(env.gh.calls).toEqual([]);
    const b = await env.binding(binding);
    expect(b.status).toBe('PAUSED');
    expect(b.active_run_id).toBeUndefined();
  });
});

describe('consent', () => {
  it('a run of a binding whose creator has no live consent: FAILED consent_required, binding PAUSED', async () => {
    const binding = await env.makeBinding({ created_by: 'bob' });
    const run = await startRun(binding, { trigger: 'manual' });
    expect(await workOnRun(messageOf(run), env.opts())).toBe('finished');
    const after = await env.run(run);
    expect(after.status).toBe('FAILED');
    expect(after.error?.code).toBe('consent_required');
    const b = await env.binding(binding);
    expect(b.status).toBe('PAUSED');
    expect(b.status_reason?.code).toBe('consent_required');
    expect(env.gh.calls).toEqual([]);
    expect((await env.events()).map((e) => e.type)).toEqual(['sync.failed']);
  });

  it('revoking the consent raises consent.revoked; the consumer pauses the bindings and stops their run', async () => {
    const binding = await env.makeBinding();
    env.gh.seed({ owner: 'acme', repo: binding.resource.repo as string, issues: 150 });
    const run = await startRun(binding, { trigger: 'manual' });
    expect(await workOnRun(messageOf(run), env.opts({ maxPages: 1 }))).toBe('continued');
    await env.events();
    const consentId = env.consents.get(env.github.id) as string;
    try {
      const { revoked } = await revokeConsent(env.caller, consentId, env.collection);
      expect(revoked).toBe(true);
      const events = await env.events();
      const event = events.find((e) => e.type === 'consent.revoked');
      expect(event?.data).toMatchObject({
        user_id: 'alice',
        consent_type: 'THIRD_PARTY',
        resource_type: 'oauth_connection',
        resource_id: env.github.id,
      });
      const out = await ingestMessage(event?.id as string, JSON.stringify(event), bindingsConsumers);
      expect(out).toEqual({ outcome: 'dispatched', consumers: ['bindings.consent'] });
      const paused = await env.binding(binding);
      expect(paused.status).toBe('PAUSED');
      expect(paused.status_reason?.code).toBe('consent_revoked');
      expect((await env.run(run)).cancel_requested).toBe(true);
      // The run's next share stops it, its first page counted.
      expect(await workOnRun(messageOf(run), env.opts())).toBe('finished');
      const stopped = await env.run(run);
      expect(stopped.status).toBe('CANCELLED');
      expect(stopped.inbound.added).toBe(100);
      const b = await env.binding(binding);
      expect(b.status).toBe('PAUSED');
      expect(b.active_run_id).toBeUndefined();
      // A paused binding starts no run.
      await expect(startRun(b, { trigger: 'manual' })).rejects.toMatchObject({ status: 409 });
    } finally {
      const { consent } = await grantConsent(
        env.caller,
        { consent_type: 'THIRD_PARTY', resource_type: 'oauth_connection', resource_id: env.github.id },
        env.collection,
      );
      env.consents.set(env.github.id, consent.id);
    }
  });

  it('a consent revoked while its event is lost: the run’s next share fails it consent_required', async () => {
    const binding = await env.makeBinding();
    env.gh.seed({ owner: 'acme', repo: binding.resource.repo as string, issues: 150 });
    const run = await startRun(binding, { trigger: 'manual' });
    expect(await workOnRun(messageOf(run), env.opts({ maxPages: 1 }))).toBe('continued');
    const consentId = env.consents.get(env.github.id) as string;
    try {
      await revokeConsent(env.caller, consentId, env.collection);
      await env.events();
      env.gh.calls.length = 0;
      expect(await workOnRun(messageOf(run), env.opts())).toBe('finished');
      const after = await env.run(run);
      expect(after.status).toBe('FAILED');
      expect(after.error?.code).toBe('consent_required');
      expect(after.inbound.added).toBe(100);
      expect(env.gh.calls).toEqual([]);
      const b = await env.binding(binding);
      expect(b).toMatchObject({ status: 'PAUSED', status_reason: { code: 'consent_required' } });
      expect(b.checkpoint).toBeNull();
    } finally {
      const { consent } = await grantConsent(
        env.caller,
        { consent_type: 'THIRD_PARTY', resource_type: 'oauth_connection', resource_id: env.github.id },
        env.collection,
      );
      env.consents.set(env.github.id, consent.id);
    }
  });
});
