import { describe, expect, it } from 'vitest';
import { workOnRun } from '#shared/bindings/engine.ts';
import { startRun } from '#shared/bindings/runs.ts';
import { deleteBindingOf } from '#shared/bindings/service.ts';
import type { BindingItem } from '#shared/bindings/store.ts';
import { readWorkspaceCounters } from '#shared/counters.ts';
import { messageOf, useBindingsEnv } from '#test/helpers/bindings.ts';

// The bindings' part of GET /status/workspace: runs of the last 24 h by outcome and the
// workspace's bindings by the outcome of their last run, kept by the run's end and the deletion.

const env = useBindingsEnv();

async function runOnce(binding: BindingItem) {
  const run = await startRun(await env.binding(binding), { trigger: 'manual' });
  for (let i = 0; i < 10; i++) if ((await workOnRun(messageOf(run), env.opts())) === 'finished') break;
  return env.run(run);
}

const bindingsView = async () => (await readWorkspaceCounters('ws1')).bindings;

describe('status counters of bindings', () => {
  it('count runs by outcome and move each binding to its last outcome; a deleted binding leaves the count', async () => {
    const ok = await env.makeBinding();
    env.gh.seed({ owner: 'acme', repo: ok.resource.repo as string, issues: 3 });
    expect((await runOnce(ok)).status).toBe('SUCCEEDED');
    expect(await bindingsView()).toEqual({ runs_24h: { SUCCEEDED: 1 }, by_last_run: { SUCCEEDED: 1 } });

    // A second binding whose repository is gone fails its run.
    const gone = await env.makeBinding();
    expect((await runOnce(gone)).status).toBe('FAILED');
    expect(await bindingsView()).toEqual({
      runs_24h: { SUCCEEDED: 1, FAILED: 1 },
      by_last_run: { SUCCEEDED: 1, FAILED: 1 },
    });

    // The first one runs again: it stays counted once, under its latest outcome.
    expect((await runOnce(ok)).status).toBe('SUCCEEDED');
    const after = await bindingsView();
    expect(after?.runs_24h).toEqual({ SUCCEEDED: 2, FAILED: 1 });
    expect(after?.by_last_run).toEqual({ SUCCEEDED: 1, FAILED: 1 });

    await deleteBindingOf(env.caller, gone.id);
    expect((await bindingsView())?.by_last_run).toEqual({ SUCCEEDED: 1, FAILED: 0 });
  });
});
