import * as z from 'zod';

/** A PronaFlow event as event sources put it on the ingest queue. */
export const eventEnvelope = z.object({
  id: z.string().min(1).max(128),
  type: z
    .string()
    .regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/, 'Event types look like "task.created"')
    .max(100),
  workspace_id: z.string().min(1).max(128),
  occurred_at: z.iso.datetime({ offset: true }),
  data: z.record(z.string(), z.unknown()),
});
export type PronaFlowEvent = z.infer<typeof eventEnvelope>;
