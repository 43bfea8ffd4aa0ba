/**
 * What inbound syncs hand to PronaFlow core: one message per record version on the records queue
 * (`<prefix>-records`, with its DLQ). The schema is the contract with core, versioned by `schema`.
 *
 * Core applies a message idempotently by `idempotency_key` (the same record version may arrive
 * twice: SQS delivers at least once, and a run that crashed re-sends the page it was on), creates
 * a record it does not know under the given `pronaflow_id` (derived from the binding and the
 * external id, so a re-sent creation names the same record), and raises its usual events
 * (`task.updated`, …) marked with `origin.binding_id`; the binding recognises those as its own
 * echo either way (their values equal what it last synced).
 */
import { createHash } from 'node:crypto';
import * as v from 'valibot';
import { forEachLimit } from '#shared/db/batch.ts';
import { MAX_CARRIED_ATTRIBUTE_BYTES, sendJsonBatch } from '#shared/queues.ts';
import { record } from '#shared/validation.ts';
import type { SyncEntity } from './fields.ts';

export const RECORD_SCHEMA = 'pronaflow.integration.record.v1';

export const recordMessage = v.object({
  schema: v.literal(RECORD_SCHEMA),
  /**
   * Same key = same record version: apply once. `<binding>:<external id>:<updated_at>:<content
   * hash>`, or `<binding>:<external id>:deleted:<updated_at of the version deleted>`.
   */
  idempotency_key: v.pipe(v.string(), v.maxLength(400)),
  op: v.picklist(['upsert', 'delete']),
  entity: v.picklist(['task', 'comment']),
  workspace_id: v.string(),
  /** The project the record belongs to (the binding's). */
  project_id: v.nullable(v.string()),
  binding_id: v.string(),
  run_id: v.string(),
  /** The PronaFlow id of the record; for a record new to PronaFlow, the id to create it under. */
  pronaflow_id: v.string(),
  /** True the first time the record is synced in (core creates it). */
  created: v.boolean(),
  /** For a comment: the external id of the record it comments on (core resolves it through its links). */
  parent_external_id: v.nullable(v.string()),
  /**
   * For a comment: the record it comments on, resolved by the sync where it can. `resource_key` is
   * the resource of the binding that links the parent (a task binding of the same repository and
   * connection, e.g. `acme/app#issues`), `pronaflow_id` the parent's PronaFlow id; both null when
   * no such binding links it yet (core then waits for the parent to be synced in). Never a
   * record of the same number in another repository. Null for records without a parent.
   */
  parent: v.optional(
    v.nullable(
      v.object({
        external_id: v.string(),
        resource_key: v.nullable(v.string()),
        pronaflow_id: v.nullable(v.string()),
      }),
    ),
  ),
  external: v.object({
    provider: v.pipe(v.string(), v.description('The OAuth app id')),
    resource_key: v.string(),
    id: v.string(),
    url: v.nullable(v.string()),
    updated_at: v.string(),
  }),
  /** The mapped PronaFlow field values (targets of the binding's mapping); empty for a delete. */
  values: record(v.string(), v.unknown()),
  occurred_at: v.string(),
});
export type RecordMessage = v.InferOutput<typeof recordMessage>;

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

/**
 * The PronaFlow id of an external record new to PronaFlow: the same for the same binding and
 * external id, so a creation sent twice names one record.
 */
export function pronaflowIdFor(entity: SyncEntity, bindingId: string, externalId: string): string {
  const digest = createHash('sha256').update(`${bindingId}\u0000${externalId}`).digest();
  let body = '';
  for (let i = 0; i < 26; i++) body += CROCKFORD[(digest[i] as number) % 32];
  return `${entity === 'task' ? 'task' : 'cmt'}_${body}`;
}

/**
 * SQS's limits on what a send carries (docs.aws.amazon.com, SQS quotas and SendMessageBatch): a
 * message of at most the queue's `MaximumMessageSize` — 256 KiB (262,144 bytes) unless the queue
 * raises it, up to 1 MiB — and a SendMessageBatch of at most 10 messages and 1 MiB (1,048,576
 * bytes) in all. SQS counts a message's attributes (name, type and value) toward both, and every
 * send carries the correlation ids as attributes (shared/queues.ts), so each message keeps
 * {@link MAX_CARRIED_ATTRIBUTE_BYTES} free. The records queue keeps the 256 KiB default; a
 * record's body is held to {@link MAX_RECORD_BYTES} (which also keeps a record's link, whose
 * `pf_values` carry the same values, under DynamoDB's 400 KB item size).
 */
const SQS_MAX_MESSAGE_BYTES = 256 * 1024;
/** The most a record's JSON body may weigh: the SQS message limit less the attributes' room. */
export const MAX_RECORD_BYTES = SQS_MAX_MESSAGE_BYTES - MAX_CARRIED_ATTRIBUTE_BYTES;
export const MAX_RECORD_BATCH_BYTES = 1024 * 1024;
const BATCH_ENTRIES = 10;

/** The size of a record's body as SQS counts it: its JSON's UTF-8 bytes (attributes apart). */
export const recordBytes = (message: RecordMessage): number =>
  Buffer.byteLength(JSON.stringify(message), 'utf8');

/**
 * Sends a page's records (SendMessageBatch calls of at most ten records and 1 MiB with their
 * attributes, five side by side). A record over {@link MAX_RECORD_BYTES} is not sent: it is returned, for the caller to
 * count as a failure of that record (the engine screens them before, so none should come back).
 */
export async function publishRecords(messages: RecordMessage[]): Promise<RecordMessage[]> {
  const refused: RecordMessage[] = [];
  const batches: RecordMessage[][] = [];
  let batch: RecordMessage[] = [];
  let bytes = 0;
  for (const message of messages) {
    const body = recordBytes(message);
    if (body > MAX_RECORD_BYTES) {
      refused.push(message);
      continue;
    }
    // What SQS counts toward the batch's 1 MiB: the body and the attributes the send adds.
    const size = body + MAX_CARRIED_ATTRIBUTE_BYTES;
    if (batch.length === BATCH_ENTRIES || bytes + size > MAX_RECORD_BATCH_BYTES) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(message);
    bytes += size;
  }
  if (batch.length) batches.push(batch);
  await forEachLimit(batches, 5, (b) => sendJsonBatch('RECORDS_QUEUE_URL', b));
  return refused;
}
