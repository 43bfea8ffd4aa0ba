/**
 * Fields and mappings of data sync bindings: the shape of a field catalog (an adapter's resource
 * fields, PronaFlow's target fields per entity) and of a binding's `field_mapping`. Types only;
 * the mapping engine is mapping.ts, PronaFlow's targets are targets.ts.
 */

/** The PronaFlow entities a binding can sync. */
export type SyncEntity = 'task' | 'comment';
export const SYNC_ENTITIES = ['task', 'comment'] as const satisfies readonly SyncEntity[];

export type SyncDirection = 'INBOUND' | 'OUTBOUND' | 'BIDIRECTIONAL';

/** The value types a field can hold (JSON values after the adapter has read them). */
export type FieldType =
  | 'string' // one line
  | 'text' // multi-line
  | 'enum' // one of `values`
  | 'datetime' // ISO 8601 timestamp
  | 'date' // YYYY-MM-DD
  | 'number'
  | 'boolean'
  | 'string[]'
  | 'user'; // a login / user id of the side that holds it

/** One field of a catalog. */
export interface FieldDef {
  name: string;
  type: FieldType;
  description: string;
  /** Set by the provider (or by PronaFlow) only: never written by a sync. */
  read_only?: boolean;
  /** For `enum`: the values it takes. */
  values?: readonly string[];
  /** Always present on a record (a mapping need not give it a default). */
  required?: boolean;
}

/**
 * How a mapping entry turns source values into the target value (inbound: provider → PronaFlow),
 * and back (outbound) where the transform has an inverse:
 * - `rename` (the default): the value as it is; inverse: the same.
 * - `value_map`: each source value (a string, number or boolean, looked up as a string) to a
 *   target value (`{ "open": "todo", "closed": "done" }`), with `default` for other values;
 *   inverse when the map is one-to-one (`inverse` may name the way back explicitly when it is
 *   not, e.g. several task statuses to `open`; a value it does not name falls back to the map's
 *   only key giving it).
 * - `date`: parses the source (`format`: `iso` timestamp with its zone, `date` YYYY-MM-DD, `unix`
 *   seconds, `slack_ts` "1712345678.000200") into the target's form (a `date` target: the UTC day;
 *   `datetime` or `string`: `toISOString()`); inverse: formats back, to the millisecond.
 * - `default`: the value, or `value` when the source is missing/null/empty; inverse: the same
 *   value unchanged (outbound never fills in `value`).
 * - `concat`: several sources (`source` is an array) joined with `separator`, skipping empty
 *   parts (a `string[]` source gives one part per item); no inverse, so the entry is inbound-only.
 */
export type Transform =
  | { type: 'rename' }
  | {
      type: 'value_map';
      map: Record<string, string>;
      default?: string;
      inverse?: Record<string, string>;
    }
  | { type: 'date'; format: 'iso' | 'date' | 'unix' | 'slack_ts' }
  | { type: 'default'; value: string | number | boolean | null }
  | { type: 'concat'; separator: string };

/** One entry of a binding's `field_mapping`. */
export interface FieldMapping {
  /** The provider field (or fields, for `concat`). */
  source: string | string[];
  /** The PronaFlow field. */
  target: string;
  transform?: Transform;
}

/** Where an entry of a mapping applies, as the binding's view tells it. */
export interface MappingEntryView extends FieldMapping {
  inbound: boolean;
  outbound: boolean;
  /** Why the entry works one way only, when the binding is two-way. */
  one_way_reason?: string;
}

/** A problem with a mapping, at a path of the request body (`field_mapping.2.source`). */
export interface MappingProblem {
  path: string;
  message: string;
}

/** One record's values, by field name. */
export type FieldValues = Record<string, unknown>;
