import { consumers } from '#functions/workers/ingest-events.ts';
import type { CascadeKind } from '#shared/cascade.ts';
import { ingestMessage } from '#shared/events/ingest.ts';
import { findCascade } from '#shared/lifecycle/cascades.ts';
import { participants } from '#shared/lifecycle/participants.ts';
import { type PageOutcome, runCascadePage } from '#shared/lifecycle/sweep.ts';

let n = 0;

/** Puts a PronaFlow event through the ingest consumers, as the ingest worker does. */
export function emitEvent(type: string, workspaceId: string, data: unknown, eventId?: string) {
  n++;
  return ingestMessage(
    `lm${n}`,
    JSON.stringify({
      id: eventId ?? `evt_l${n}_${Date.now()}`,
      type,
      workspace_id: workspaceId,
      occurred_at: new Date().toISOString(),
      data,
    }),
    consumers,
  );
}

/**
 * Runs a cascade's sweep page by page, each page as its own invocation would (the message of
 * the record's current seq), without the queue's delays. Returns the outcomes, one per page.
 */
export async function sweepCascade(kind: CascadeKind, id: string, maxPages = 2000): Promise<PageOutcome[]> {
  const outcomes: PageOutcome[] = [];
  for (let i = 0; i < maxPages; i++) {
    const record = await findCascade(kind, id);
    if (!record || record.status === 'DONE') return outcomes;
    outcomes.push(await runCascadePage({ kind, id, seq: record.seq }, participants));
  }
  throw new Error(`cascade ${kind} did not finish in ${maxPages} pages`);
}
