import * as v from 'valibot';
import { isoDateTime, record } from '#shared/validation.ts';

/** A PronaFlow event as event sources put it on the ingest queue. */
export const eventEnvelope = v.object({
  id: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
  type: v.pipe(
    v.string(),
    v.regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/, 'Event types look like "task.created"'),
    v.maxLength(100),
  ),
  workspace_id: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
  occurred_at: isoDateTime({ offset: true }),
  data: record(v.string(), v.unknown()),
});
export type PronaFlowEvent = v.InferOutput<typeof eventEnvelope>;
