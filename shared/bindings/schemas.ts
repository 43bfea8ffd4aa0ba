import * as z from 'zod';

/**
 * Request contracts of data sync bindings. The endpoints are registered but not built yet (501):
 * these schemas already validate input (a malformed request is a 400, not a 501) and document it.
 */
const fieldMapping = z
  .object({
    external_field: z.string().min(1).max(200).describe('Field of the external resource, e.g. `title`'),
    pronaflow_field: z.string().min(1).max(200).describe('PronaFlow field, e.g. `task.name`'),
    direction: z.enum(['inbound', 'outbound', 'both']).default('inbound'),
  })
  .strict();

export const createBindingBody = z
  .object({
    name: z.string().trim().min(1).max(100),
    connection_id: z.string().min(1).max(100).describe('The OAuth connection the sync reads through'),
    external_resource: z
      .object({ type: z.string().min(1).max(100), id: z.string().min(1).max(500) })
      .strict()
      .describe('e.g. `{ "type": "github.repository", "id": "acme/api" }`'),
    field_mappings: z.array(fieldMapping).min(1).max(100),
  })
  .strict();

export const updateBindingBody = z
  .object({
    name: z.string().trim().min(1).max(100).optional(),
    field_mappings: z.array(fieldMapping).min(1).max(100).optional(),
    active: z.boolean().optional(),
  })
  .strict();
