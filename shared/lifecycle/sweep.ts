/**
 * The sweep of a cascade: one page per message on the lifecycle queue, the next page as a new
 * message. Each participant of the subject's kind sweeps in turn (registry order) until it says
 * it is done; the cascade record keeps the step and the cursor, so an invocation that times out
 * or a message seen twice resumes at the last page applied (pages are idempotent).
 */
import * as v from 'valibot';
import type { CascadeKind, CascadeParticipant } from '#shared/cascade.ts';
import { logger } from '#shared/logger.ts';
import { sendJson } from '#shared/queues.ts';
import { check } from '#shared/validation.ts';
import { advanceCascade, type CascadeRecord, findCascade, subjectOfRecord } from './cascades.ts';
import { reportCascade } from './status.ts';

/** Items a page deletes at most (each participant keeps to it roughly): a page takes seconds. */
export const SWEEP_PAGE_ITEMS = 200;

/**
 * A message one behind the record whose record has not moved for this long is the redelivery
 * of a page applied just before its invocation died (before it sent the next message): it sends
 * the lost message again. Longer than a page's invocation may take (the worker's timeout), far
 * shorter than the queue's visibility timeout (six times that), after which SQS redelivers.
 */
export const STALL_SECONDS = 240;

const kindSchema = v.picklist(['user', 'workspace', 'plugin', 'oauth_app']);
const kickSchema = v.object({
  kind: kindSchema,
  id: v.pipe(v.string(), v.minLength(1)),
  seq: v.pipe(v.number(), v.safeInteger(), v.gtValue(0)),
});
export type CascadeKick = v.InferOutput<typeof kickSchema>;

/** A sweep message from its body, or undefined when it is none. */
export function parseKick(body: string): CascadeKick | undefined {
  try {
    const parsed = check(kickSchema, JSON.parse(body));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The participants that have items of `kind`, in registry order (the steps of its cascade). */
export function stepsOf(kind: CascadeKind, participants: readonly CascadeParticipant[]) {
  return participants.filter((p) => p.kinds.includes(kind));
}

/** Name of the step a record is at (GET /status). */
export function stepName(r: CascadeRecord, participants: readonly CascadeParticipant[]): string {
  if (r.status === 'DONE') return 'done';
  return stepsOf(r.kind, participants)[r.step]?.name ?? 'finishing';
}

/** Sends the message of the record's current page. */
export async function sendKick(r: CascadeRecord, delaySeconds = 0): Promise<void> {
  await sendJson(
    'LIFECYCLE_QUEUE_URL',
    { kind: r.kind, id: r.subject_id, seq: r.seq } satisfies CascadeKick,
    delaySeconds,
  );
}

export type PageOutcome = 'swept' | 'done' | 'duplicate' | 'resent' | 'unknown';

/** Runs the page a message stands for (see the module comment). */
export async function runCascadePage(
  kick: CascadeKick,
  participants: readonly CascadeParticipant[],
  now = () => new Date(),
): Promise<PageOutcome> {
  const record = await findCascade(kick.kind, kick.id);
  if (!record) return 'unknown';
  if (record.status !== 'SWEEPING') return 'duplicate';
  if (kick.seq !== record.seq) {
    const idle = now().getTime() - Date.parse(record.updated_at) > STALL_SECONDS * 1000;
    if (kick.seq === record.seq - 1 && idle) {
      await sendKick(record);
      logger.warn('cascade message sent again after a lost one', { kind: record.kind, seq: record.seq });
      return 'resent';
    }
    return 'duplicate';
  }
  const steps = stepsOf(record.kind, participants);
  const participant = steps[record.step];
  const page = participant
    ? await participant.sweep(subjectOfRecord(record), record.cursor, { maxItems: SWEEP_PAGE_ITEMS })
    : { deleted: 0 };
  const next = await advanceCascade(
    record,
    {
      participant: participant?.name ?? 'lifecycle',
      deleted: page.deleted,
      ...(page.next ? { next: page.next } : {}),
      lastStep: record.step >= steps.length - 1,
    },
    now(),
  );
  if (!next) return 'duplicate';
  await reportCascade(next, stepName(next, participants));
  logger.info('cascade page', {
    kind: next.kind,
    step: participant?.name,
    deleted: page.deleted,
    total: next.deleted,
    status: next.status,
  });
  if (next.status === 'DONE') return 'done';
  await sendKick(next, page.delaySeconds ?? 0);
  return 'swept';
}
