/**
 * Request and response contracts of data sync bindings (the OpenAPI document is generated from
 * them). A binding's `resource` is checked twice: here only its shape (a `type`, an optional
 * `kind`, a few locator members), then against its adapter's resource type (service.ts), whose
 * locator schema names every bad field.
 */
import * as z from 'zod';
import { pageQuery } from '#shared/http/common-params.ts';
import { problemSchema } from '#shared/http/problem.ts';
import { forbiddenProblemSchema } from '#shared/http/statuses.ts';
import { SYNC_ENTITIES } from './fields.ts';
import { fieldMappingListSchema, fieldMappingSchema } from './mapping.ts';

export const SYNC_DIRECTIONS = ['INBOUND', 'OUTBOUND', 'BIDIRECTIONAL'] as const;
export const CONFLICT_POLICIES = ['provider_wins', 'pronaflow_wins', 'newest_wins'] as const;
export const BINDING_STATUSES = ['ACTIVE', 'PAUSED', 'ERROR'] as const;
export const RUN_STATUSES = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'PARTIAL', 'FAILED', 'CANCELLED'] as const;
export const RUN_TRIGGERS = ['manual', 'schedule', 'events'] as const;

const id = z.string().min(1).max(100);

// ── Requests ──

export const bindingParams = z.object({ id });
export const runParams = z.object({ id, run_id: id });

const resourceInput = z
  .looseObject({
    type: z
      .string()
      .min(1)
      .max(100)
      .describe('A resource type of the app (`GET /oauth/apps/{id}/resources`), e.g. `github_repository`'),
    kind: z
      .string()
      .min(1)
      .max(100)
      .optional()
      .describe('The variant of the resource type (e.g. `issues`); default `default`'),
  })
  .refine((r) => Object.keys(r).length <= 20, { message: 'At most 20 members' })
  .describe(
    'What to sync: `type`, `kind` and the locator members of the type (e.g. `{ "type": "github_repository", "kind": "issues", "owner": "acme", "repo": "app" }`)',
  );

const schedule = z
  .strictObject({
    every_minutes: z.number().int().min(5).max(1440).describe('Minutes between scheduled runs (5 to 1440)'),
  })
  .nullable()
  .describe('Run on a schedule; null (or absent) runs only on request and on PronaFlow changes');

const projectId = z
  .string()
  .min(1)
  .max(100)
  .nullable()
  .describe('The PronaFlow project of the records (inbound tasks are created there)');

const conflictPolicy = z
  .enum(CONFLICT_POLICIES)
  .describe(
    'Who wins when both sides changed a record since the last sync: the provider, PronaFlow, or the newest change',
  );

export const createBindingBody = z.strictObject({
  oauth_connection_id: id.describe('Your OAuth connection the sync reads and writes through'),
  resource: resourceInput,
  entity: z.enum(SYNC_ENTITIES).describe('The PronaFlow entity the records become'),
  project_id: projectId.optional(),
  direction: z
    .enum(SYNC_DIRECTIONS)
    .describe('INBOUND: provider → PronaFlow; OUTBOUND: PronaFlow → provider; BIDIRECTIONAL: both'),
  field_mapping: fieldMappingListSchema.describe(
    'Provider fields to PronaFlow fields, each with an optional transform',
  ),
  schedule: schedule.optional(),
  conflict_policy: conflictPolicy.default('provider_wins'),
});
export type CreateBindingBody = z.infer<typeof createBindingBody>;

export const updateBindingBody = z
  .strictObject({
    field_mapping: fieldMappingListSchema.optional().describe('Replaces the mapping (validated again)'),
    schedule: schedule.optional(),
    active: z
      .boolean()
      .optional()
      .describe(
        'false pauses the binding (status PAUSED); true resumes it (ACTIVE), which needs your live THIRD_PARTY consent for the connection',
      ),
    conflict_policy: conflictPolicy.optional(),
    project_id: projectId.optional(),
  })
  .refine((b) => Object.values(b).some((v) => v !== undefined), {
    message: 'Send at least one of field_mapping, schedule, active, conflict_policy, project_id',
  });
export type UpdateBindingBody = z.infer<typeof updateBindingBody>;

export const listBindingsQuery = pageQuery.extend({
  oauth_connection_id: id.optional().describe('Only the bindings of this connection'),
  oauth_app_id: id.optional().describe('Only the bindings of this app'),
  status: z.enum(BINDING_STATUSES).optional(),
});

export const syncBindingBody = z
  .strictObject({
    full: z
      .boolean()
      .optional()
      .describe('Read everything again instead of the changes since the checkpoint (default false)'),
  })
  .optional();

export const previewBody = z
  .strictObject({
    record: z
      .record(z.string().max(100), z.unknown())
      .refine((r) => Object.keys(r).length <= 100, { message: 'At most 100 fields' })
      .optional()
      .describe(
        "A provider record's fields by catalog name (an OUTBOUND binding: a PronaFlow record's fields); absent: the provider's first record is read",
      ),
  })
  .optional();

// ── Responses ──

const mappingEntryView = fieldMappingSchema.extend({
  inbound: z.boolean().describe('The entry applies provider → PronaFlow'),
  outbound: z.boolean().describe('The entry applies PronaFlow → provider'),
  one_way_reason: z.string().optional().describe('Why the entry of a two-way binding applies one way only'),
});

const reasonView = z.object({ code: z.string(), message: z.string() });

const lastRunView = z.object({
  id: z.string(),
  status: z.enum(RUN_STATUSES),
  finished_at: z.string(),
  trigger: z.enum(RUN_TRIGGERS),
});

export const bindingSchema = z.object({
  id: z.string(),
  oauth_connection_id: z.string(),
  oauth_app_id: z.string(),
  resource: z.record(z.string(), z.unknown()).describe('The resource as its locator normalised it'),
  entity: z.enum(SYNC_ENTITIES),
  project_id: z.string().nullable(),
  direction: z.enum(SYNC_DIRECTIONS),
  field_mapping: z.array(mappingEntryView),
  schedule: z.object({ every_minutes: z.number().int() }).nullable(),
  conflict_policy: z.enum(CONFLICT_POLICIES),
  status: z.enum(BINDING_STATUSES),
  status_reason: reasonView
    .nullable()
    .describe('Why it is PAUSED or in ERROR (`paused`, `consent_revoked`, `connection_expired`, …)'),
  active_run_id: z.string().nullable().describe('The run in progress (QUEUED or RUNNING)'),
  last_run: lastRunView.nullable(),
  next_run_at: z.string().nullable().describe('When the schedule runs it next'),
  last_full_run_at: z
    .string()
    .nullable()
    .describe('When its last full run ended (scheduled runs are full once this is over 24 hours old)'),
  checkpoint: z.string().nullable().describe('Where the next incremental run starts (the provider’s clock)'),
  created_by: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type BindingView = z.infer<typeof bindingSchema>;
export const bindingPageSchema = z.object({
  data: z.array(bindingSchema),
  next_cursor: z.string().nullable(),
});

const counts = z.object({
  added: z.number().int(),
  updated: z.number().int(),
  deleted: z.number().int(),
  skipped: z.number().int(),
  failed: z.number().int(),
});

export const runSchema = z.object({
  id: z.string(),
  binding_id: z.string(),
  status: z.enum(RUN_STATUSES),
  trigger: z.enum(RUN_TRIGGERS),
  full: z.boolean(),
  inbound: counts,
  outbound: counts,
  errors: z
    .array(
      z.object({
        direction: z.enum(['inbound', 'outbound']),
        external_id: z.string().nullable(),
        pronaflow_id: z.string().nullable().optional(),
        message: z.string(),
      }),
    )
    .describe('The first per-record errors (at most 50); `errors_total` counts them all'),
  errors_total: z.number().int(),
  error: reasonView.nullable().describe('Why the run FAILED (or was CANCELLED)'),
  checkpoint_from: z.string().nullable(),
  checkpoint_to: z.string().nullable(),
  pages_fetched: z.number().int(),
  provider_calls: z.number().int(),
  rate_limit_waits: z.number().int(),
  rate_limit_wait_ms: z.number().int(),
  not_modified: z.number().int().describe('Listings the provider answered 304 (nothing changed)'),
  invocations: z.number().int(),
  recoveries: z.number().int().describe('Times the run was put back on the queue after its invocations died'),
  queued_at: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  duration_ms: z.number().int().nullable(),
  cancel_requested: z.boolean(),
});
export type RunView = z.infer<typeof runSchema>;
export const runPageSchema = z.object({ data: z.array(runSchema), next_cursor: z.string().nullable() });

const problems = z.array(z.object({ path: z.string(), message: z.string() }));
const mapped = z.object({
  values: z.record(z.string(), z.unknown()),
  errors: problems.describe('Fields that could not be mapped (`path` is the field)'),
});

export const previewSchema = z.object({
  direction: z.enum(SYNC_DIRECTIONS),
  source: z
    .enum(['given', 'provider'])
    .describe('The record was given in the request, or read from the provider'),
  external_id: z.string().optional().describe("The provider's id of the record read"),
  record: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe('The record mapped (null: the provider has none to read)'),
  inbound: mapped
    .optional()
    .describe('INBOUND and BIDIRECTIONAL bindings: the PronaFlow values the record maps to'),
  outbound: mapped
    .optional()
    .describe(
      'BIDIRECTIONAL: those PronaFlow values mapped back to the provider; OUTBOUND: the given PronaFlow record mapped to the provider',
    ),
});
export type PreviewView = z.infer<typeof previewSchema>;

const fieldView = z.object({
  name: z.string(),
  type: z.string(),
  description: z.string(),
  read_only: z.boolean().optional(),
  values: z.array(z.string()).optional(),
  required: z.boolean().optional(),
});

export const targetsSchema = z.object({
  entities: z
    .array(z.object({ entity: z.enum(SYNC_ENTITIES), fields: z.array(fieldView) }))
    .describe('PronaFlow fields a mapping can target, per entity'),
});

export const appResourcesSchema = z.object({
  app_id: z.string(),
  sync_adapter: z.string().nullable().describe('The adapter that syncs the app; null: it cannot be bound'),
  resource_types: z.array(
    z.object({
      type: z.string(),
      description: z.string(),
      locator: z.record(z.string(), z.unknown()).describe('JSON Schema of `resource` for this type'),
      variants: z.array(
        z.object({
          kind: z.string(),
          entity: z.enum(SYNC_ENTITIES),
          writable: z.object({ create: z.boolean(), update: z.boolean(), delete: z.boolean() }),
          fields: z.array(fieldView),
        }),
      ),
    }),
  ),
});

const consentRequired = z
  .object({ consent_type: z.string(), resource_type: z.string(), resource_id: z.string() })
  .describe('The consent to grant (`POST /consents`) before the binding can move data');

/** The problem+json answers of bindings, with the members they add. */
export const bindingProblemSchema = problemSchema.extend({
  reason: z.enum(['binding_exists', 'workspace_binding_limit', 'provider_unreachable']).optional(),
  run_id: z.string().optional().describe('The run in progress'),
  binding_id: z.string().optional().describe('The binding that already syncs this resource'),
  limit: z.number().int().optional(),
  provider_status: z.number().int().optional().describe('The HTTP status the provider answered'),
  connection_id: z.string().optional(),
  binding_status: z.enum(BINDING_STATUSES).optional(),
  status_reason: reasonView.nullable().optional(),
});

/** A 403 of a binding route: the chain's (role, scope) or the missing consent (`consent-required`). */
export const bindingForbiddenSchema = forbiddenProblemSchema.extend({
  reason: z.literal('consent_required').optional(),
  consent_required: consentRequired.optional(),
});
