/**
 * Request and response contracts of data sync bindings (the OpenAPI document is generated from
 * them). A binding's `resource` is checked twice: here only its shape (a `type`, an optional
 * `kind`, a few locator members), then against its adapter's resource type (service.ts), whose
 * locator schema names every bad field.
 */
import * as v from 'valibot';
import { pageQuery } from '#shared/http/common-params.ts';
import { problemSchema } from '#shared/http/problem.ts';
import { forbiddenProblemSchema } from '#shared/http/statuses.ts';
import { record, refine } from '#shared/validation.ts';
import { SYNC_ENTITIES } from './fields.ts';
import { fieldMappingListSchema, fieldMappingSchema } from './mapping.ts';

export const SYNC_DIRECTIONS = ['INBOUND', 'OUTBOUND', 'BIDIRECTIONAL'] as const;
export const CONFLICT_POLICIES = ['provider_wins', 'pronaflow_wins', 'newest_wins'] as const;
export const BINDING_STATUSES = ['ACTIVE', 'PAUSED', 'ERROR'] as const;
export const RUN_STATUSES = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'PARTIAL', 'FAILED', 'CANCELLED'] as const;
export const RUN_TRIGGERS = ['manual', 'schedule', 'events'] as const;

const id = v.pipe(v.string(), v.minLength(1), v.maxLength(100));

// ── Requests ──

export const bindingParams = v.object({ id });
export const runParams = v.object({ id, run_id: id });

const resourceInput = v.pipe(
  v.looseObject({
    type: v.pipe(
      v.string(),
      v.minLength(1),
      v.maxLength(100),
      v.description(
        'A resource type of the app (`GET /oauth/apps/{id}/resources`), e.g. `github_repository`',
      ),
    ),
    kind: v.pipe(
      v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(100))),
      v.description('The variant of the resource type (e.g. `issues`); default `default`'),
    ),
  }),
  refine((r) => Object.keys(r).length <= 20, 'At most 20 members'),
  v.description(
    'What to sync: `type`, `kind` and the locator members of the type (e.g. `{ "type": "github_repository", "kind": "issues", "owner": "acme", "repo": "app" }`)',
  ),
);

const schedule = v.pipe(
  v.nullable(
    v.strictObject({
      every_minutes: v.pipe(
        v.number(),
        v.safeInteger(),
        v.minValue(5),
        v.maxValue(1440),
        v.description('Minutes between scheduled runs (5 to 1440)'),
      ),
    }),
  ),
  v.description('Run on a schedule; null (or absent) runs only on request and on PronaFlow changes'),
);

const projectId = v.pipe(
  v.nullable(v.pipe(v.string(), v.minLength(1), v.maxLength(100))),
  v.description('The PronaFlow project of the records (inbound tasks are created there)'),
);

const conflictPolicy = v.pipe(
  v.picklist(CONFLICT_POLICIES),
  v.description(
    'Who wins when both sides changed a record since the last sync: the provider, PronaFlow, or the newest change',
  ),
);

export const createBindingBody = v.strictObject({
  oauth_connection_id: v.pipe(id, v.description('Your OAuth connection the sync reads and writes through')),
  resource: resourceInput,
  entity: v.pipe(v.picklist(SYNC_ENTITIES), v.description('The PronaFlow entity the records become')),
  project_id: v.optional(projectId),
  direction: v.pipe(
    v.picklist(SYNC_DIRECTIONS),
    v.description('INBOUND: provider → PronaFlow; OUTBOUND: PronaFlow → provider; BIDIRECTIONAL: both'),
  ),
  field_mapping: v.pipe(
    fieldMappingListSchema,
    v.description('Provider fields to PronaFlow fields, each with an optional transform'),
  ),
  schedule: v.optional(schedule),
  conflict_policy: v.optional(conflictPolicy, 'provider_wins'),
});
export type CreateBindingBody = v.InferOutput<typeof createBindingBody>;

export const updateBindingBody = v.pipe(
  v.strictObject({
    field_mapping: v.pipe(
      v.optional(fieldMappingListSchema),
      v.description('Replaces the mapping (validated again)'),
    ),
    schedule: v.optional(schedule),
    active: v.pipe(
      v.optional(v.boolean()),
      v.description(
        'false pauses the binding (status PAUSED); true resumes it (ACTIVE), which needs your live THIRD_PARTY consent for the connection',
      ),
    ),
    conflict_policy: v.optional(conflictPolicy),
    project_id: v.optional(projectId),
  }),
  refine(
    (b) => Object.values(b).some((v) => v !== undefined),
    'Send at least one of field_mapping, schedule, active, conflict_policy, project_id',
  ),
);
export type UpdateBindingBody = v.InferOutput<typeof updateBindingBody>;

export const listBindingsQuery = v.object({
  ...pageQuery.entries,
  oauth_connection_id: v.pipe(v.optional(id), v.description('Only the bindings of this connection')),
  oauth_app_id: v.pipe(v.optional(id), v.description('Only the bindings of this app')),
  status: v.optional(v.picklist(BINDING_STATUSES)),
});

export const syncBindingBody = v.optional(
  v.strictObject({
    full: v.pipe(
      v.optional(v.boolean()),
      v.description('Read everything again instead of the changes since the checkpoint (default false)'),
    ),
  }),
);

export const previewBody = v.optional(
  v.strictObject({
    record: v.pipe(
      v.optional(
        v.pipe(
          record(v.pipe(v.string(), v.maxLength(100)), v.unknown()),
          refine((r) => Object.keys(r).length <= 100, 'At most 100 fields'),
        ),
      ),
      v.description(
        "A provider record's fields by catalog name (an OUTBOUND binding: a PronaFlow record's fields); absent: the provider's first record is read",
      ),
    ),
  }),
);

// ── Responses ──

const mappingEntryView = v.strictObject({
  ...fieldMappingSchema.entries,
  inbound: v.pipe(v.boolean(), v.description('The entry applies provider → PronaFlow')),
  outbound: v.pipe(v.boolean(), v.description('The entry applies PronaFlow → provider')),
  one_way_reason: v.pipe(
    v.optional(v.string()),
    v.description('Why the entry of a two-way binding applies one way only'),
  ),
});

const reasonView = v.object({ code: v.string(), message: v.string() });

const lastRunView = v.object({
  id: v.string(),
  status: v.picklist(RUN_STATUSES),
  finished_at: v.string(),
  trigger: v.picklist(RUN_TRIGGERS),
});

export const bindingSchema = v.object({
  id: v.string(),
  oauth_connection_id: v.string(),
  oauth_app_id: v.string(),
  resource: v.pipe(
    record(v.string(), v.unknown()),
    v.description('The resource as its locator normalised it'),
  ),
  entity: v.picklist(SYNC_ENTITIES),
  project_id: v.nullable(v.string()),
  direction: v.picklist(SYNC_DIRECTIONS),
  field_mapping: v.array(mappingEntryView),
  schedule: v.nullable(v.object({ every_minutes: v.pipe(v.number(), v.safeInteger()) })),
  conflict_policy: v.picklist(CONFLICT_POLICIES),
  status: v.picklist(BINDING_STATUSES),
  status_reason: v.pipe(
    v.nullable(reasonView),
    v.description('Why it is PAUSED or in ERROR (`paused`, `consent_revoked`, `connection_expired`, …)'),
  ),
  active_run_id: v.pipe(v.nullable(v.string()), v.description('The run in progress (QUEUED or RUNNING)')),
  last_run: v.nullable(lastRunView),
  next_run_at: v.pipe(v.nullable(v.string()), v.description('When the schedule runs it next')),
  last_full_run_at: v.pipe(
    v.nullable(v.string()),
    v.description('When its last full run ended (scheduled runs are full once this is over 24 hours old)'),
  ),
  checkpoint: v.pipe(
    v.nullable(v.string()),
    v.description('Where the next incremental run starts (the provider’s clock)'),
  ),
  created_by: v.string(),
  created_at: v.string(),
  updated_at: v.string(),
});
export type BindingView = v.InferOutput<typeof bindingSchema>;
export const bindingPageSchema = v.object({
  data: v.array(bindingSchema),
  next_cursor: v.nullable(v.string()),
});

const counts = v.object({
  added: v.pipe(v.number(), v.safeInteger()),
  updated: v.pipe(v.number(), v.safeInteger()),
  deleted: v.pipe(v.number(), v.safeInteger()),
  skipped: v.pipe(v.number(), v.safeInteger()),
  failed: v.pipe(v.number(), v.safeInteger()),
});

export const runSchema = v.object({
  id: v.string(),
  binding_id: v.string(),
  status: v.picklist(RUN_STATUSES),
  trigger: v.picklist(RUN_TRIGGERS),
  full: v.boolean(),
  inbound: counts,
  outbound: counts,
  errors: v.pipe(
    v.array(
      v.object({
        direction: v.picklist(['inbound', 'outbound']),
        external_id: v.nullable(v.string()),
        pronaflow_id: v.optional(v.nullable(v.string())),
        message: v.string(),
      }),
    ),
    v.description('The first per-record errors (at most 50); `errors_total` counts them all'),
  ),
  errors_total: v.pipe(v.number(), v.safeInteger()),
  error: v.pipe(v.nullable(reasonView), v.description('Why the run FAILED (or was CANCELLED)')),
  checkpoint_from: v.nullable(v.string()),
  checkpoint_to: v.nullable(v.string()),
  pages_fetched: v.pipe(v.number(), v.safeInteger()),
  provider_calls: v.pipe(v.number(), v.safeInteger()),
  rate_limit_waits: v.pipe(v.number(), v.safeInteger()),
  rate_limit_wait_ms: v.pipe(v.number(), v.safeInteger()),
  not_modified: v.pipe(
    v.number(),
    v.safeInteger(),
    v.description('Listings the provider answered 304 (nothing changed)'),
  ),
  invocations: v.pipe(v.number(), v.safeInteger()),
  recoveries: v.pipe(
    v.number(),
    v.safeInteger(),
    v.description('Times the run was put back on the queue after its invocations died'),
  ),
  queued_at: v.string(),
  started_at: v.nullable(v.string()),
  finished_at: v.nullable(v.string()),
  duration_ms: v.nullable(v.pipe(v.number(), v.safeInteger())),
  cancel_requested: v.boolean(),
});
export type RunView = v.InferOutput<typeof runSchema>;
export const runPageSchema = v.object({ data: v.array(runSchema), next_cursor: v.nullable(v.string()) });

const problems = v.array(v.object({ path: v.string(), message: v.string() }));
const mapped = v.object({
  values: record(v.string(), v.unknown()),
  errors: v.pipe(problems, v.description('Fields that could not be mapped (`path` is the field)')),
});

export const previewSchema = v.object({
  direction: v.picklist(SYNC_DIRECTIONS),
  source: v.pipe(
    v.picklist(['given', 'provider']),
    v.description('The record was given in the request, or read from the provider'),
  ),
  external_id: v.pipe(v.optional(v.string()), v.description("The provider's id of the record read")),
  record: v.pipe(
    v.nullable(record(v.string(), v.unknown())),
    v.description('The record mapped (null: the provider has none to read)'),
  ),
  inbound: v.pipe(
    v.optional(mapped),
    v.description('INBOUND and BIDIRECTIONAL bindings: the PronaFlow values the record maps to'),
  ),
  outbound: v.pipe(
    v.optional(mapped),
    v.description(
      'BIDIRECTIONAL: those PronaFlow values mapped back to the provider; OUTBOUND: the given PronaFlow record mapped to the provider',
    ),
  ),
});
export type PreviewView = v.InferOutput<typeof previewSchema>;

const fieldView = v.object({
  name: v.string(),
  type: v.string(),
  description: v.string(),
  read_only: v.optional(v.boolean()),
  values: v.optional(v.array(v.string())),
  required: v.optional(v.boolean()),
});

export const targetsSchema = v.object({
  entities: v.pipe(
    v.array(v.object({ entity: v.picklist(SYNC_ENTITIES), fields: v.array(fieldView) })),
    v.description('PronaFlow fields a mapping can target, per entity'),
  ),
});

export const appResourcesSchema = v.object({
  app_id: v.string(),
  sync_adapter: v.pipe(
    v.nullable(v.string()),
    v.description('The adapter that syncs the app; null: it cannot be bound'),
  ),
  resource_types: v.array(
    v.object({
      type: v.string(),
      description: v.string(),
      locator: v.pipe(
        record(v.string(), v.unknown()),
        v.description('JSON Schema of `resource` for this type'),
      ),
      variants: v.array(
        v.object({
          kind: v.string(),
          entity: v.picklist(SYNC_ENTITIES),
          writable: v.object({ create: v.boolean(), update: v.boolean(), delete: v.boolean() }),
          fields: v.array(fieldView),
        }),
      ),
    }),
  ),
});

const consentRequired = v.pipe(
  v.object({ consent_type: v.string(), resource_type: v.string(), resource_id: v.string() }),
  v.description('The consent to grant (`POST /consents`) before the binding can move data'),
);

/** The problem+json answers of bindings, with the members they add. */
export const bindingProblemSchema = v.objectWithRest(
  {
    ...problemSchema.entries,
    reason: v.optional(v.picklist(['binding_exists', 'workspace_binding_limit', 'provider_unreachable'])),
    run_id: v.pipe(v.optional(v.string()), v.description('The run in progress')),
    binding_id: v.pipe(v.optional(v.string()), v.description('The binding that already syncs this resource')),
    limit: v.optional(v.pipe(v.number(), v.safeInteger())),
    provider_status: v.pipe(
      v.optional(v.pipe(v.number(), v.safeInteger())),
      v.description('The HTTP status the provider answered'),
    ),
    connection_id: v.optional(v.string()),
    binding_status: v.optional(v.picklist(BINDING_STATUSES)),
    status_reason: v.optional(v.nullable(reasonView)),
  },
  v.unknown(),
);

/** A 403 of a binding route: the chain's (role, scope) or the missing consent (`consent-required`). */
export const bindingForbiddenSchema = v.objectWithRest(
  {
    ...forbiddenProblemSchema.entries,
    reason: v.optional(v.literal('consent_required')),
    consent_required: v.optional(consentRequired),
  },
  v.unknown(),
);
