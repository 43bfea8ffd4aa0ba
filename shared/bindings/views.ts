/** API views of bindings and their runs: never a token, never a storage key. */
import { jsonSchemaOf } from '#shared/json-schema.ts';
import type { OAuthApp } from '#shared/oauth/catalog.ts';
import type { ResourceVariant, SyncAdapter } from './adapter.ts';
import { adapterFor, adapterOfApp } from './adapters/index.ts';
import type { FieldDef, FieldMapping, MappingEntryView } from './fields.ts';
import { describeMapping, type MappingOptions } from './mapping.ts';
import type { BindingView, RunView } from './schemas.ts';
import type { BindingItem, RunItem } from './store.ts';
import { targetFields } from './targets.ts';

/** The variant of a resource of an adapter (`resource.kind`, `default` when absent). */
export function variantOf(
  adapter: SyncAdapter,
  resource: { type: string; kind?: string },
): ResourceVariant | undefined {
  const type = adapter.resourceTypes.find((t) => t.type === resource.type);
  return type?.variants.find((v) => v.kind === (resource.kind ?? 'default'));
}

/** What the mapping engine needs to judge a binding's mapping. */
export function mappingOptions(
  binding: Pick<BindingItem, 'resource' | 'sync_entity' | 'direction'>,
  variant: ResourceVariant,
): MappingOptions {
  return {
    source: variant.fields,
    target: targetFields[binding.sync_entity],
    direction: binding.direction,
    sourceName: `${binding.resource.type} ${variant.kind}`,
  };
}

/** Each entry with where it applies; an adapter that is gone leaves the entries as the direction says. */
function describedMapping(b: BindingItem): MappingEntryView[] {
  const adapter = adapterFor(b.adapter);
  const variant = adapter && variantOf(adapter, b.resource);
  if (variant) return describeMapping(b.field_mapping, mappingOptions(b, variant));
  return b.field_mapping.map((e: FieldMapping) => ({
    ...e,
    inbound: b.direction !== 'OUTBOUND',
    outbound: b.direction !== 'INBOUND',
  }));
}

export function toBindingView(b: BindingItem): BindingView {
  return {
    id: b.id,
    oauth_connection_id: b.connection_id,
    oauth_app_id: b.app_id,
    resource: { ...b.resource },
    entity: b.sync_entity,
    project_id: b.project_id ?? null,
    direction: b.direction,
    field_mapping: describedMapping(b) as BindingView['field_mapping'],
    schedule: b.schedule ?? null,
    conflict_policy: b.conflict_policy,
    status: b.status,
    status_reason: b.status_reason ?? null,
    active_run_id: b.active_run_id ?? null,
    last_run: b.last_run ?? null,
    next_run_at: b.next_run_at ?? null,
    last_full_run_at: b.last_full_run_at ?? null,
    checkpoint: b.checkpoint ?? null,
    created_by: b.created_by,
    created_at: b.created_at,
    updated_at: b.updated_at,
  };
}

export function toRunView(r: RunItem): RunView {
  return {
    id: r.id,
    binding_id: r.binding_id,
    status: r.status,
    trigger: r.trigger,
    full: r.full,
    inbound: r.inbound,
    outbound: r.outbound,
    errors: r.errors.slice(0, 50).map((e) => ({
      direction: e.direction,
      external_id: e.external_id,
      ...(e.pronaflow_id !== undefined ? { pronaflow_id: e.pronaflow_id } : {}),
      message: e.message,
    })),
    errors_total: r.errors_total,
    error: r.error ?? null,
    checkpoint_from: r.checkpoint_from ?? null,
    checkpoint_to: r.checkpoint_to ?? null,
    pages_fetched: r.pages_fetched,
    provider_calls: r.provider_calls,
    rate_limit_waits: r.rate_limit_waits,
    rate_limit_wait_ms: r.rate_limit_wait_ms,
    not_modified: r.not_modified,
    invocations: r.invocations,
    recoveries: r.recoveries ?? 0,
    queued_at: r.queued_at,
    started_at: r.started_at ?? null,
    finished_at: r.finished_at ?? null,
    duration_ms: r.duration_ms ?? null,
    cancel_requested: r.cancel_requested,
  };
}

/** A field of a catalog as the API shows it. */
export const toFieldView = (f: FieldDef) => ({
  name: f.name,
  type: f.type,
  description: f.description,
  ...(f.read_only ? { read_only: true } : {}),
  ...(f.values ? { values: [...f.values] } : {}),
  ...(f.required ? { required: true } : {}),
});

/** `GET /oauth/apps/{id}/resources`: what the app's adapter can sync (nothing without one). */
export function toAppResourcesView(app: OAuthApp) {
  const adapter = adapterOfApp(app);
  return {
    app_id: app.id,
    sync_adapter: adapter?.id ?? null,
    resource_types: (adapter?.resourceTypes ?? []).map((t) => ({
      type: t.type,
      description: t.description,
      locator: jsonSchemaOf(t.locator, 'input') as Record<string, unknown>,
      variants: t.variants.map((v) => ({
        kind: v.kind,
        entity: v.entity,
        writable: { ...v.writable },
        fields: v.fields.map(toFieldView),
      })),
    })),
  };
}
