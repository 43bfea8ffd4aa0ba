/**
 * The provider adapter interface of data sync: what the sync engine needs of a provider, and
 * nothing of any one provider's shape (paging by Link header or by body cursor, checkpoints by
 * timestamp or by message ts, errors by status or by `ok: false` are each adapter's business).
 *
 * An adapter is stateless: every call gets an {@link AdapterContext} whose `http` is the
 * provider client of one run (base URL from the OAuth app's `api_base_url`, the connection's
 * token, the outbound URL guard, rate-limit waits, call counters; provider-http.ts).
 */
import type * as v from 'valibot';
import type { FieldDef, FieldValues, SyncEntity } from './fields.ts';

/** A resource type an adapter can sync, as `GET /oauth/apps/{id}/resources` describes it. */
export interface ResourceTypeDef {
  /** The `resource.type` of a binding, e.g. `github_repository`. */
  type: string;
  description: string;
  /**
   * Validates a binding's `resource` (the whole object, `type` included) and normalises it. A
   * locator the schema refuses is a 400 naming the field.
   */
  locator: v.GenericSchema<unknown, Resource>;
  /** The variants of the resource (GitHub `kind`: issues, pull_requests) and what each syncs. */
  variants: ResourceVariant[];
}

export interface ResourceVariant {
  /** Value of `resource.kind`, or `default` for a type without kinds. */
  kind: string;
  /** The PronaFlow entity it syncs with. */
  entity: SyncEntity;
  fields: FieldDef[];
  /** Whether the provider lets the sync create, update and delete records of this kind. */
  writable: { create: boolean; update: boolean; delete: boolean };
  /**
   * For records that belong to another record (a comment to its issue): the field holding the
   * parent's external id. Inbound it becomes the record message's `parent_external_id`; outbound
   * the engine sets it on creation from the parent's link.
   */
  parentField?: string;
}

/** A binding's `resource`, as stored after its type's `locator` accepted it. */
export interface Resource {
  type: string;
  kind?: string;
  [locator: string]: unknown;
}

/** One external record, read from the provider. */
export interface ExternalRecord {
  /** The provider's stable id of the record (a GitHub issue number, a Slack message `ts`). */
  id: string;
  /** When the provider last changed it (ISO 8601): the conflict clock and the checkpoint's source. */
  updatedAt: string;
  /** Its values by catalog field name. */
  fields: FieldValues;
  /** The provider says it is gone (GitHub: deleted or transferred; Slack: a tombstone). */
  deleted?: boolean;
  /** A link for people (shown in runs and previews). */
  url?: string;
}

/** A record of a page that the adapter could not read: counted as failed, never fatal to a run. */
export interface MalformedRecord {
  externalId: string | null;
  error: string;
}

/** Where a listing of changes stands between two pages (stored in the run, resumed from). */
export interface ListingState {
  /** Checkpoint the listing started from (undefined: from the beginning, a full listing). */
  since?: string;
  /** Opaque: the adapter's cursor of the next page (a Link URL, a body cursor). */
  cursor?: string;
}

export interface ChangePage {
  records: ExternalRecord[];
  malformed: MalformedRecord[];
  /** The next page's cursor; undefined when this was the last page of the listing. */
  next?: string;
  /**
   * The checkpoint to store once the listing is complete: the newest change seen so far,
   * carried over pages (the engine keeps the greatest).
   */
  checkpoint?: string;
  /** The provider answered 304 (nothing changed since the stored ETag): no records. */
  notModified?: boolean;
}

/** A response of the provider, parsed. */
export interface ProviderResponse {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** The JSON body (undefined when empty or not JSON). */
  json: unknown;
  /** The raw body, bounded. */
  text: string;
}

export interface ProviderRequest {
  method?: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  /**
   * A path below the app's `api_base_url` (`/repos/acme/app/issues`), or an absolute URL the
   * provider gave (a `Link` next page), which must be on the same origin as the base URL.
   */
  path: string;
  query?: Record<string, string | number | undefined>;
  /** Sent as JSON unless `form` is set. */
  body?: unknown;
  /** Send `body` as application/x-www-form-urlencoded (Slack's form methods). */
  form?: boolean;
  headers?: Record<string, string>;
  /**
   * A conditional GET: sends `If-None-Match` with the ETag remembered under this key from an
   * earlier run, remembers the new one. A 304 answer comes back as status 304.
   */
  etagKey?: string;
}

/** What a rate-limit answer asks of the caller. */
export interface RateLimitDecision {
  /** Milliseconds to wait before calling again. */
  waitMs: number;
  /** For the run's record: `primary` (quota used up), `secondary` (abuse limit), `retry_after`. */
  kind: 'primary' | 'secondary' | 'retry_after';
}

/** The provider client of one run (provider-http.ts implements it). */
export interface ProviderHttp {
  /**
   * Sends one request with the connection's token. Rate-limit answers (the adapter's
   * `rateLimit` decides) are waited out and retried when the wait fits in the time left, else it
   * throws RescheduleRun; a 401 refreshes the token once and retries, then throws
   * ConnectionRejected. Other statuses are returned for the adapter to judge.
   */
  request(req: ProviderRequest): Promise<ProviderResponse>;
}

export interface AdapterContext {
  http: ProviderHttp;
}

/** One provider's adapter. */
export interface SyncAdapter {
  /** The name OAuth apps give in `sync_adapter`. */
  id: string;
  resourceTypes: ResourceTypeDef[];
  /**
   * A key that identifies the resource among the connection's bindings (`acme/app#issues`), used
   * to refuse two bindings of the same resource and entity on one connection.
   */
  resourceKey(resource: Resource): string;
  /**
   * One page of records changed since `state.since` (everything when undefined), oldest change
   * first where the provider allows, from `state.cursor` (the first page when undefined).
   */
  listChanges(ctx: AdapterContext, resource: Resource, state: ListingState): Promise<ChangePage>;
  /** One record by id; `gone` when the provider says it no longer exists there. */
  fetchRecord(ctx: AdapterContext, resource: Resource, id: string): Promise<ExternalRecord | 'gone'>;
  /**
   * Creates a record from catalog fields with one call (no follow-up writes: a field the provider
   * does not take on creation, GitHub's `state: closed`, is written by the engine afterwards with
   * `updateRecord`); returns it as the provider now holds it. `marker`, when given, is embedded
   * where {@link SyncAdapter.findCreated} can find it again (GitHub: an HTML comment at the end of
   * the body) and never shows in the record's fields as read back.
   */
  createRecord(
    ctx: AdapterContext,
    resource: Resource,
    fields: FieldValues,
    marker?: string,
  ): Promise<ExternalRecord>;
  /**
   * Finds a record an earlier, interrupted `createRecord` may have made: one of the records
   * created since `since` (ISO 8601) that carries `marker`, or undefined. Without this method the
   * engine creates again and counts the possible duplicate in the run's errors.
   */
  findCreated?(
    ctx: AdapterContext,
    resource: Resource,
    marker: string,
    since: string,
  ): Promise<ExternalRecord | undefined>;
  /**
   * For resources whose records have parents (a variant with `parentField`) and the resources
   * those parents live in: a key naming the container they share (GitHub: `owner/repo`, the same
   * for a repository's issues, pull requests and comments). A comment is written only to a parent
   * linked by a binding with the same key. @default the binding's `resource` without `kind`.
   */
  parentResourceKey?(resource: Resource): string;
  /** Updates the given fields of a record; returns it as the provider now holds it. */
  updateRecord(
    ctx: AdapterContext,
    resource: Resource,
    id: string,
    fields: FieldValues,
  ): Promise<ExternalRecord>;
  /** Removes (or, where the provider cannot delete, closes) a record. */
  deleteRecord(ctx: AdapterContext, resource: Resource, id: string): Promise<void>;
  /**
   * Reads a response for a rate limit, the way the provider documents it; undefined when the
   * response is not one. `attempt` counts consecutive rate-limited answers (for back-off).
   */
  rateLimit(res: ProviderResponse, now: Date, attempt: number): RateLimitDecision | undefined;
  /**
   * Whether a response says the token was refused (the client then refreshes it once and
   * retries). @default status 401. Slack, for one, answers 200 with `ok: false, error: "invalid_auth"`.
   */
  authFailed?(res: ProviderResponse): boolean;
}

/** A provider error the adapter cannot work around (the run fails with it, or the record does). */
export class ProviderCallError extends Error {
  override name = 'ProviderCallError';
  constructor(
    message: string,
    readonly status: number | undefined,
    /** True when only this record is affected (the run goes on and counts it failed). */
    readonly recordLevel = false,
  ) {
    super(message);
  }
}

/**
 * A rate-limit wait longer than the time left in this invocation: the engine saves the run's
 * place and re-enqueues it to resume at `resumeAt` (epoch ms) instead of sleeping.
 */
export class RescheduleRun extends Error {
  override name = 'RescheduleRun';
  constructor(
    readonly resumeAt: number,
    readonly kind: RateLimitDecision['kind'],
  ) {
    super(`Rate limited (${kind}); resume at ${new Date(resumeAt).toISOString()}`);
  }
}

/** The provider refuses the connection's token even after a refresh (revoked, expired, wrong scopes). */
export class ConnectionRejected extends Error {
  override name = 'ConnectionRejected';
  constructor(
    readonly status: number,
    message = `The provider refused the connection's token (HTTP ${status})`,
  ) {
    super(message);
  }
}

/** What {@link isParentBinding} needs of a binding. */
interface BoundResource {
  adapter: string;
  sync_entity: string;
  resource: Resource;
}

/** The container a resource's records (and their parents) live in: see `parentResourceKey`. */
export function parentContainerKey(adapter: SyncAdapter, resource: Resource): string {
  if (adapter.parentResourceKey) return adapter.parentResourceKey(resource);
  const { kind: _kind, ...rest } = resource;
  return JSON.stringify(
    Object.keys(rest)
      .sort()
      .map((k) => [k, rest[k]]),
  );
}

/**
 * Whether `parent` is a binding whose records can be the parents of `child`'s records (a comment
 * binding's tasks): the same adapter, a kind without a parent of its own syncing tasks, in the
 * same container (GitHub: the same repository). A comment goes only to a parent linked by such a
 * binding, never to a record of the same number in another repository.
 */
export function isParentBinding(adapter: SyncAdapter, child: BoundResource, parent: BoundResource): boolean {
  if (parent.adapter !== child.adapter || parent.adapter !== adapter.id || parent.sync_entity !== 'task')
    return false;
  const type = adapter.resourceTypes.find((t) => t.type === parent.resource.type);
  const variant = type?.variants.find((v) => v.kind === (parent.resource.kind ?? 'default'));
  if (!variant || variant.parentField) return false;
  return (
    parent.resource.type === child.resource.type &&
    parentContainerKey(adapter, parent.resource) === parentContainerKey(adapter, child.resource)
  );
}
