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
  background: z
    .array(
      z.object({
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
      }),
    )
    .optional(),
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
