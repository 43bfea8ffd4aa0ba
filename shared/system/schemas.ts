import * as z from 'zod';

export const componentSchema = z.object({
  name: z.string(),
  status: z.enum(['ok', 'failing']),
  latency_ms: z.number().nonnegative(),
  detail: z.string().optional(),
});

export const healthSchema = z.object({
  status: z.enum(['ok', 'failing']),
  version: z.string(),
  time: z.string(),
  components: z.array(componentSchema),
});
export type Health = z.infer<typeof healthSchema>;

/** A line of background work in progress (shared/status-lines.ts). */
export const statusLineSchema = z.object({
  name: z.string(),
  in_progress: z.number().int(),
  truncated: z.boolean(),
  entries: z.array(
    z.object({
      kind: z.string(),
      step: z.string(),
      started_at: z.string(),
      updated_at: z.string(),
      items_done: z.number().int(),
    }),
  ),
});

export const statusSchema = z.object({
  service: z.string(),
  version: z.string(),
  time: z.string(),
  capabilities: z.array(
    z.object({
      name: z.string(),
      status: z.enum(['available', 'partial', 'not_implemented']),
      endpoints: z.number().int(),
      pending_endpoints: z.number().int(),
    }),
  ),
  /**
   * Background work in progress, a line per kind (e.g. `lifecycle_cascades`: deletions of users,
   * workspaces, plugins and OAuth apps being swept). Absent when the table cannot be read.
   */
  background: z.array(statusLineSchema).optional(),
});

/**
 * Counters per feature, as the features keep them (shared/counters.ts): a number, or numbers by
 * status. Which counters there are is the features' to say; the view renders whatever they keep.
 */
export const counterViewSchema = z
  .record(
    z.string().describe('The feature (`tokens`, `webhooks`, `oauth`, `plugins`, `consents`, `bindings`…)'),
    z.record(
      z.string().describe('The counter (`active`, `expiring_7d`, `deliveries_24h`…)'),
      z.union([z.number().int(), z.record(z.string().describe('A status'), z.number().int())]),
    ),
  )
  .describe(
    'Counters per feature, maintained as things change (no scan): a count, or counts by status. Windows: `_24h` counts what happened in the last 24 hours (hour grain); `expiring_7d` what lapses within 7 days, today included (day grain)',
  );

export const workspaceStatusSchema = z.object({
  workspace_id: z
    .string()
    .describe('The workspace of the credentials (X-Workspace-Id for a session in several)'),
  time: z.string(),
  features: counterViewSchema.describe("The workspace's counters per feature"),
  service: z
    .object({
      features: counterViewSchema.describe(
        'The same counters summed over every workspace (kept as they change)',
      ),
      dead_letter_queues: z
        .array(
          z.object({
            queue: z.string(),
            messages: z
              .number()
              .int()
              .nullable()
              .describe(
                'Messages waiting in the DLQ (ApproximateNumberOfMessages); null when it could not be read',
              ),
          }),
        )
        .describe("Every queue's dead-letter queue"),
      background: z
        .array(statusLineSchema)
        .describe('Background work in progress (the cascades of deletions)'),
    })
    .optional()
    .describe("PronaFlow operators only (the session's `operator` claim, or a token an operator created)"),
});

/** `GET /docs/assets/{name}`: any name; one the page does not use is a 404. */
export const docsAssetParams = z.object({ name: z.string().max(100) });

/** A problem type's page as JSON (`GET /problems/{name}`). */
export const problemTypeSchema = z.object({
  name: z.string(),
  type: z.string().describe('The `type` URI problems of this kind carry'),
  title: z.string(),
  status: z.number().int(),
  description: z.string(),
  how_to_fix: z.array(z.string()),
});

export const problemTypeListSchema = z.object({ items: z.array(problemTypeSchema) });

/** `GET /problems/{name}`: any name; one the catalogue does not list is a 404. */
export const problemTypeParams = z.object({ name: z.string().max(100) });
