import * as v from 'valibot';
import { record } from '#shared/validation.ts';

export const componentSchema = v.object({
  name: v.string(),
  status: v.picklist(['ok', 'failing']),
  latency_ms: v.pipe(v.number(), v.minValue(0)),
  detail: v.optional(v.string()),
});

export const healthSchema = v.object({
  status: v.picklist(['ok', 'failing']),
  version: v.string(),
  time: v.string(),
  components: v.array(componentSchema),
});
export type Health = v.InferOutput<typeof healthSchema>;

/** A line of background work in progress (shared/status-lines.ts). */
export const statusLineSchema = v.object({
  name: v.string(),
  in_progress: v.pipe(v.number(), v.safeInteger()),
  truncated: v.boolean(),
  entries: v.array(
    v.object({
      kind: v.string(),
      step: v.string(),
      started_at: v.string(),
      updated_at: v.string(),
      items_done: v.pipe(v.number(), v.safeInteger()),
    }),
  ),
});

export const statusSchema = v.object({
  service: v.string(),
  version: v.string(),
  time: v.string(),
  capabilities: v.array(
    v.object({
      name: v.string(),
      status: v.picklist(['available', 'partial', 'not_implemented']),
      endpoints: v.pipe(v.number(), v.safeInteger()),
      pending_endpoints: v.pipe(v.number(), v.safeInteger()),
    }),
  ),
  /**
   * Background work in progress, a line per kind (e.g. `lifecycle_cascades`: deletions of users,
   * workspaces, plugins and OAuth apps being swept). Absent when the table cannot be read.
   */
  background: v.optional(v.array(statusLineSchema)),
});

/**
 * Counters per feature, as the features keep them (shared/counters.ts): a number, or numbers by
 * status. Which counters there are is the features' to say; the view renders whatever they keep.
 */
export const counterViewSchema = v.pipe(
  record(
    v.pipe(
      v.string(),
      v.description('The feature (`tokens`, `webhooks`, `oauth`, `plugins`, `consents`, `bindings`…)'),
    ),
    record(
      v.pipe(v.string(), v.description('The counter (`active`, `expiring_7d`, `deliveries_24h`…)')),
      v.union([
        v.pipe(v.number(), v.safeInteger()),
        record(v.pipe(v.string(), v.description('A status')), v.pipe(v.number(), v.safeInteger())),
      ]),
    ),
  ),
  v.description(
    'Counters per feature, maintained as things change (no scan): a count, or counts by status. Windows: `_24h` counts what happened in the last 24 hours (hour grain); `expiring_7d` what lapses within 7 days, today included (day grain)',
  ),
);

export const workspaceStatusSchema = v.object({
  workspace_id: v.pipe(
    v.string(),
    v.description('The workspace of the credentials (X-Workspace-Id for a session in several)'),
  ),
  time: v.string(),
  features: v.pipe(counterViewSchema, v.description("The workspace's counters per feature")),
  service: v.pipe(
    v.optional(
      v.object({
        features: v.pipe(
          counterViewSchema,
          v.description('The same counters summed over every workspace (kept as they change)'),
        ),
        dead_letter_queues: v.pipe(
          v.array(
            v.object({
              queue: v.string(),
              messages: v.pipe(
                v.nullable(v.pipe(v.number(), v.safeInteger())),
                v.description(
                  'Messages waiting in the DLQ (ApproximateNumberOfMessages); null when it could not be read',
                ),
              ),
            }),
          ),
          v.description("Every queue's dead-letter queue"),
        ),
        background: v.pipe(
          v.array(statusLineSchema),
          v.description('Background work in progress (the cascades of deletions)'),
        ),
      }),
    ),
    v.description(
      "PronaFlow operators only (the session's `operator` claim, or a token an operator created)",
    ),
  ),
});

/** `GET /docs/assets/{name}`: any name; one the page does not use is a 404. */
export const docsAssetParams = v.object({ name: v.pipe(v.string(), v.maxLength(100)) });

/** A problem type's page as JSON (`GET /problems/{name}`). */
export const problemTypeSchema = v.object({
  name: v.string(),
  type: v.pipe(v.string(), v.description('The `type` URI problems of this kind carry')),
  title: v.string(),
  status: v.pipe(v.number(), v.safeInteger()),
  description: v.string(),
  how_to_fix: v.array(v.string()),
});

export const problemTypeListSchema = v.object({ items: v.array(problemTypeSchema) });

/** `GET /problems/{name}`: any name; one the catalogue does not list is a 404. */
export const problemTypeParams = v.object({ name: v.pipe(v.string(), v.maxLength(100)) });
