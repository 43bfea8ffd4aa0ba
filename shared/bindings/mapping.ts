/**
 * # The field-mapping engine of data sync bindings (pure: no I/O)
 *
 * `field_mapping` maps fields of an external record (the adapter's catalog: the *source*) to fields
 * of a PronaFlow entity (targets.ts: the *target*); inbound applies each entry's transform,
 * outbound its inverse (fields.ts describes the transforms).
 * - {@link validateMapping}: every problem of a mapping, at paths of the request body.
 * - {@link describeMapping}: per entry, whether it applies inbound and outbound, and why an entry
 *   goes one way only (no inverse, a read-only provider field, a type that cannot be written back,
 *   a provider field an earlier entry already writes outbound).
 * - {@link applyInbound} / {@link applyOutbound}: one record; never throw on bad data: a value that
 *   cannot be mapped or that its field refuses is an error of that field (`path`: the field not
 *   written) and the others still map. Entries with problems, or of the other direction, are
 *   ignored. Outbound maps only the PronaFlow fields present in `values` (a partial update: a
 *   `default` never fires for an absent field).
 * - {@link mappedHash}: a fingerprint of mapped values, to recognise the sync's own writes (echoes).
 *
 * Dates: `iso` is read with its zone (Z or ±hh:mm) and written back as `toISOString()`; a `date`
 * target keeps the UTC day; `unix` seconds and `slack_ts` keep millisecond precision.
 */
import { createHash } from 'node:crypto';
import * as v from 'valibot';
import { record, refine } from '#shared/validation.ts';
import type {
  FieldDef,
  FieldMapping,
  FieldValues,
  MappingEntryView,
  MappingProblem,
  SyncDirection,
  Transform,
} from './fields.ts';

export interface MappingOptions {
  /** The provider's fields (the adapter's `ResourceVariant.fields`). */
  source: readonly FieldDef[];
  /** PronaFlow's fields of the entity (targets.ts). */
  target: readonly FieldDef[];
  direction: SyncDirection;
  /** Names the provider's side in messages, e.g. `github_repository issues`. */
  sourceName: string;
}

export interface MappingResult {
  values: FieldValues;
  errors: MappingProblem[];
}

// ---- The request schema of a mapping entry ----

const fieldName = v.pipe(v.string(), v.minLength(1), v.maxLength(100));
const mapValue = v.pipe(v.string(), v.maxLength(200));
const valueMap = (min: number) =>
  v.pipe(
    record(v.pipe(v.string(), v.minLength(1), v.maxLength(200)), mapValue),
    refine((m) => Object.keys(m).length >= min && Object.keys(m).length <= 100, `give ${min} to 100 values`),
  );

const transformSchema = v.variant('type', [
  v.strictObject({ type: v.literal('rename') }),
  v.strictObject({
    type: v.literal('value_map'),
    map: v.pipe(valueMap(1), v.description('Source value → target value, e.g. `{ "open": "todo" }`')),
    default: v.pipe(v.optional(mapValue), v.description('The target value of source values not in `map`')),
    inverse: v.pipe(v.optional(valueMap(0)), v.description('Target value → source value, for outbound')),
  }),
  v.strictObject({ type: v.literal('date'), format: v.picklist(['iso', 'date', 'unix', 'slack_ts']) }),
  v.strictObject({
    type: v.literal('default'),
    value: v.union([v.pipe(v.string(), v.maxLength(1000)), v.number(), v.boolean(), v.null()]),
  }),
  v.strictObject({ type: v.literal('concat'), separator: v.pipe(v.string(), v.maxLength(20)) }),
]);

/** One entry of `field_mapping` in a request body. */
export const fieldMappingSchema = v.strictObject({
  source: v.pipe(
    v.union([fieldName, v.pipe(v.array(fieldName), v.minLength(1), v.maxLength(10))]),
    v.description('Provider field(s)'),
  ),
  target: v.pipe(fieldName, v.description('PronaFlow field')),
  transform: v.optional(transformSchema),
}) satisfies v.GenericSchema<unknown, FieldMapping>;

export const fieldMappingListSchema = v.pipe(v.array(fieldMappingSchema), v.minLength(1), v.maxLength(50));

// ---- Analysis: problems and directions of each entry ----

interface Entry {
  index: number;
  t: Transform;
  sources: FieldDef[];
  target: FieldDef;
  inbound: boolean;
  outbound: boolean;
  reason?: string;
}

const q = (s: string) => `'${s}'`;
const typed = (f: FieldDef) => `${q(f.name)} (${f.type})`;
const own = (o: object, k: string): unknown =>
  Object.hasOwn(o, k) ? (o as Record<string, unknown>)[k] : undefined;
const STRINGY: readonly string[] = ['string', 'text'];

/** Why values of `from` cannot be stored as they are in `to`, or undefined when they can. */
function incompatible(from: FieldDef, to: FieldDef): string | undefined {
  if (from.type === to.type) {
    if (from.type !== 'enum' || !to.values) return;
    if (!from.values) return `${q(from.name)} lists no values; use a value_map`;
    const extra = from.values.filter((v) => !to.values?.includes(v));
    return extra.length
      ? `${q(to.name)} does not take ${extra.map(q).join(', ')} of ${q(from.name)}`
      : undefined;
  }
  if (STRINGY.includes(to.type) && [...STRINGY, 'enum', 'user', 'date', 'datetime'].includes(from.type))
    return;
  const hint =
    to.type === 'enum' ? '; use a value_map' : to.type.startsWith('date') ? '; use a date transform' : '';
  return `${typed(from)} cannot be stored in ${typed(to)}${hint}`;
}

/** The transform's own problems, for an entry whose fields all exist. */
function transformProblems(
  t: Transform,
  s: FieldDef,
  target: FieldDef,
  add: (path: string, m: string) => void,
) {
  switch (t.type) {
    case 'rename':
    case 'default': {
      const why = incompatible(s, target);
      if (why) add('.target', `cannot map ${q(s.name)} to ${q(target.name)}: ${why}`);
      if (t.type === 'default') {
        const bad = valueProblem(t.value, target);
        if (bad) add('.transform.value', `the default does not fit: ${bad}`);
      }
      return;
    }
    case 'value_map': {
      if (![...STRINGY, 'enum', 'number', 'boolean'].includes(s.type))
        add('.source', `value_map maps enum, string, number or boolean fields; ${typed(s)} is not one`);
      if (![...STRINGY, 'enum', 'user'].includes(target.type))
        add('.target', `value_map writes string values; ${typed(target)} does not take them`);
      const takes = (path: string, f: FieldDef, v: string, verb = 'does not take') => {
        if (f.type === 'enum' && f.values && !f.values.includes(v))
          add(`.transform.${path}`, `${q(f.name)} ${verb} ${q(v)}; its values: ${f.values.join(', ')}`);
      };
      for (const [k, v] of Object.entries(t.map)) {
        takes(`map.${k}`, s, k, 'never takes');
        takes(`map.${k}`, target, v);
      }
      if (t.default !== undefined) takes('default', target, t.default);
      for (const [k, v] of Object.entries(t.inverse ?? {})) {
        takes(`inverse.${k}`, target, k, 'never takes');
        takes(`inverse.${k}`, s, v);
      }
      return;
    }
    case 'date':
      if (!(t.format === 'unix' ? ['number'] : ['date', 'datetime', ...STRINGY]).includes(s.type))
        add(
          '.source',
          `date with format '${t.format}' reads a ${t.format === 'unix' ? 'number' : 'date, datetime or string'} field; ${typed(s)} is not one`,
        );
      else if ((s.type === 'date' && t.format !== 'date') || (s.type === 'datetime' && t.format !== 'iso'))
        add('.transform.format', `${typed(s)} is read with format '${s.type === 'date' ? 'date' : 'iso'}'`);
      if (!['date', 'datetime', 'string'].includes(target.type))
        add('.target', `date writes a date, datetime or string field; ${typed(target)} is not one`);
      return;
    case 'concat':
      if (!STRINGY.includes(target.type))
        add('.target', `concat writes a string or text field; ${typed(target)} is not one`);
  }
}

/** Why an otherwise valid entry cannot be written back to the provider, or undefined. */
function outboundBlocker(
  { t, sources, target }: Omit<Entry, 'inbound' | 'outbound'>,
  writers: Map<string, number>,
) {
  const s = sources[0]!;
  if (t.type === 'concat') return 'concat has no inverse';
  if (s.read_only) return `the provider field ${q(s.name)} is read-only`;
  if (t.type === 'value_map' && !t.inverse && new Set(Object.values(t.map)).size < Object.keys(t.map).length)
    return 'value_map is not one-to-one; give "inverse"';
  if ((t.type === 'rename' || t.type === 'default') && incompatible(target, s))
    return `${typed(target)} cannot be written back to ${typed(s)}`;
  const earlier = writers.get(s.name);
  if (earlier !== undefined)
    return `another entry (field_mapping.${earlier}) already writes ${q(s.name)} outbound`;
}

function analyse(mapping: readonly FieldMapping[], opts: MappingOptions) {
  const problems: MappingProblem[] = [];
  const sourceDefs = new Map(opts.source.map((f) => [f.name, f]));
  const targetDefs = new Map(opts.target.map((f) => [f.name, f]));
  const targetsSeen = new Map<string, number>();
  const writers = new Map<string, number>();
  const entries: (Entry | undefined)[] = mapping.map((entry, index) => {
    const before = problems.length;
    const add = (path: string, message: string) =>
      problems.push({ path: `field_mapping.${index}${path}`, message });
    const t: Transform = entry.transform ?? { type: 'rename' };
    const many = Array.isArray(entry.source);
    if (t.type === 'concat' && (!many || entry.source.length < 2))
      add('.source', 'concat joins several fields: give "source" as an array of at least 2 field names');
    if (t.type !== 'concat' && many)
      add('.source', `${t.type} takes one field: give "source" as a field name (only concat joins several)`);
    const known = (fields: readonly FieldDef[]) => fields.map((f) => f.name).join(', ');
    const sources = (many ? (entry.source as string[]) : [entry.source as string]).map((name, j) => {
      const def = sourceDefs.get(name);
      if (!def)
        add(
          many ? `.source.${j}` : '.source',
          `unknown field ${q(name)} of ${opts.sourceName}; known: ${known(opts.source)}`,
        );
      return def;
    });
    const target = targetDefs.get(entry.target);
    if (!target) add('.target', `unknown PronaFlow field ${q(entry.target)}; known: ${known(opts.target)}`);
    const prev = targetsSeen.get(entry.target);
    if (prev !== undefined) add('.target', `${q(entry.target)} is already mapped by field_mapping.${prev}`);
    else targetsSeen.set(entry.target, index);
    if (problems.length > before || !target || !sources.every((d) => d !== undefined)) return undefined;
    transformProblems(t, sources[0]!, target, add);
    if (problems.length > before) return undefined;

    const base = { index, t, sources: sources as FieldDef[], target };
    const reason = opts.direction === 'INBOUND' ? undefined : outboundBlocker(base, writers);
    const outbound = opts.direction !== 'INBOUND' && !reason;
    if (outbound) writers.set(base.sources[0]!.name, index);
    if (reason && opts.direction === 'OUTBOUND') add('', `cannot go outbound: ${reason}`);
    return { ...base, inbound: opts.direction !== 'OUTBOUND', outbound, ...(reason ? { reason } : {}) };
  });

  // Rules of the whole mapping, told only when no entry has problems of its own (which may be the cause).
  if (problems.length === 0) {
    const valid = entries.filter((e) => e !== undefined);
    if (opts.direction !== 'OUTBOUND' && !valid.some((e) => e.inbound))
      problems.push({ path: 'field_mapping', message: 'no entry maps inbound' });
    if (opts.direction !== 'INBOUND' && !valid.some((e) => e.outbound))
      problems.push({ path: 'field_mapping', message: 'no entry can go outbound' });
    for (const field of opts.direction === 'OUTBOUND' ? [] : opts.target.filter((f) => f.required)) {
      const e = valid.find((v) => v.target.name === field.name);
      const names = e?.sources.map((s) => q(s.name)).join(', ');
      if (!e)
        problems.push({
          path: 'field_mapping',
          message: `the PronaFlow field ${q(field.name)} is required: map a field of ${opts.sourceName} to it`,
        });
      else if (e.t.type !== 'default' && !e.sources.some((s) => s.required))
        problems.push({
          path: `field_mapping.${e.index}.transform`,
          message: `the PronaFlow field ${q(field.name)} is required but ${names} of ${opts.sourceName} may be missing: give a 'default' transform`,
        });
    }
  }
  return { problems, entries: entries.filter((e) => e !== undefined) };
}

/** Every problem of a mapping against the provider's and PronaFlow's catalogs ([] when valid). */
export function validateMapping(mapping: readonly FieldMapping[], opts: MappingOptions): MappingProblem[] {
  return analyse(mapping, opts).problems;
}

/**
 * Where each entry applies, in the order given. An entry with problems applies nowhere; an entry
 * of a two-way (or outbound) binding that cannot go outbound says why in `one_way_reason`.
 */
export function describeMapping(mapping: readonly FieldMapping[], opts: MappingOptions): MappingEntryView[] {
  const entries = analyse(mapping, opts).entries;
  return mapping.map((entry, i) => {
    const e = entries.find((x) => x.index === i);
    const reason = e?.reason ? { one_way_reason: e.reason } : {};
    return { ...entry, inbound: e?.inbound ?? false, outbound: e?.outbound ?? false, ...reason };
  });
}

// ---- Values ----

const ISO =
  /^(\d{4}-\d{2}-\d{2})T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,9})?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/;
const DAY = /^\d{4}-\d{2}-\d{2}$/;
const MAX_MS = 8.64e15;

const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
/** Epoch ms of a YYYY-MM-DD day (UTC), undefined unless it is a real day. */
function parseDay(s: string): number | undefined {
  const ms = Date.parse(`${s}T00:00:00Z`);
  return DAY.test(s) && Number.isFinite(ms) && dayOf(ms) === s ? ms : undefined;
}
function parseIso(s: string): number | undefined {
  const m = ISO.exec(s);
  const ms = m && parseDay(m[1]!) !== undefined ? Date.parse(s) : Number.NaN;
  return Number.isFinite(ms) ? ms : undefined;
}
const within = (ms: number) => (Number.isFinite(ms) && Math.abs(ms) <= MAX_MS ? ms : undefined);

/** Epoch ms of a value written in `format`, undefined when it is not one. */
function readDate(v: unknown, format: 'iso' | 'date' | 'unix' | 'slack_ts'): number | undefined {
  if (format === 'unix') return typeof v === 'number' ? within(Math.round(v * 1000)) : undefined;
  if (typeof v !== 'string') return undefined;
  if (format === 'iso') return parseIso(v);
  if (format === 'date') return parseDay(v);
  const m = /^(\d{1,15})(?:\.(\d{1,6}))?$/.exec(v);
  return m ? within(Number(m[1]) * 1000 + Math.floor(Number((m[2] ?? '').padEnd(6, '0')) / 1000)) : undefined;
}
function writeDate(ms: number, format: 'iso' | 'date' | 'unix' | 'slack_ts'): string | number {
  if (format === 'iso') return new Date(ms).toISOString();
  if (format === 'date') return dayOf(ms);
  const secs = Math.floor(ms / 1000);
  return format === 'unix' ? secs : `${secs}.${String(ms - secs * 1000).padStart(3, '0')}000`;
}

const CHECKS: Record<Exclude<FieldDef['type'], 'enum'>, [(v: unknown) => boolean, string]> = {
  string: [(v) => typeof v === 'string', 'a string'],
  text: [(v) => typeof v === 'string', 'a string'],
  user: [(v) => typeof v === 'string', 'a string'],
  datetime: [(v) => typeof v === 'string' && parseIso(v) !== undefined, 'an ISO 8601 timestamp'],
  date: [(v) => typeof v === 'string' && parseDay(v) !== undefined, 'a date (YYYY-MM-DD)'],
  number: [(v) => typeof v === 'number' && Number.isFinite(v), 'a number'],
  boolean: [(v) => typeof v === 'boolean', 'a boolean'],
  'string[]': [(v) => Array.isArray(v) && v.every((x) => typeof x === 'string'), 'an array of strings'],
};

/** Why a field refuses a value (`'status' must be …`), undefined when it takes it. */
function valueProblem(v: unknown, f: FieldDef): string | undefined {
  if (v === null) return f.required ? `${q(f.name)} is required` : undefined;
  if (f.type !== 'enum')
    return CHECKS[f.type][0](v) ? undefined : `${q(f.name)} must be ${CHECKS[f.type][1]}`;
  if (typeof v === 'string' && (!f.values || f.values.includes(v))) return;
  const got = typeof v === 'string' ? ` (got ${JSON.stringify(v.slice(0, 50))})` : '';
  return `${q(f.name)} must be one of ${(f.values ?? []).join(', ')}${got}`;
}

type Mapped = { value: unknown } | { error: string } | undefined;
const isScalar = (v: unknown): v is string | number | boolean =>
  ['string', 'number', 'boolean'].includes(typeof v);
const missing = (v: unknown) => v === undefined || v === null || v === '';

function inboundValue(e: Entry, record: object, sourceName: string): Mapped {
  const { t, target } = e;
  const s = e.sources[0]!;
  const v = own(record, s.name);
  const of = `${q(s.name)} of ${sourceName}`;
  if (t.type === 'default') return { value: missing(v) ? t.value : v };
  if (t.type === 'concat') {
    const values = e.sources.map((f) => own(record, f.name));
    if (values.every((x) => x === undefined)) return undefined;
    const parts = values.flat().filter((x) => !missing(x));
    const names = e.sources.map((f) => q(f.name)).join(', ');
    if (!parts.every(isScalar)) return { error: `concat of ${names} joins text, numbers and booleans only` };
    return { value: parts.map(String).join(t.separator) };
  }
  if (v === undefined || v === null) return v === null ? { value: null } : undefined;
  if (t.type === 'value_map') {
    const key = isScalar(v) ? String(v) : undefined;
    const mapped = key === undefined ? undefined : own(t.map, key);
    if (mapped !== undefined) return { value: mapped };
    if (t.default !== undefined) return { value: t.default };
    return { error: `${of} has a value the value_map of ${q(target.name)} does not map` };
  }
  if (t.type === 'date') {
    const ms = readDate(v, t.format);
    if (ms === undefined) return { error: `${of} is not a date in format '${t.format}'` };
    return { value: target.type === 'date' ? dayOf(ms) : new Date(ms).toISOString() };
  }
  return { value: v };
}

function outboundValue(e: Entry, v: unknown): Mapped {
  const { t, target } = e;
  const s = e.sources[0]!;
  if (v === null || t.type === 'rename' || t.type === 'default') return { value: v };
  if (t.type === 'value_map') {
    const back = (key: string) => {
      const explicit = t.inverse && own(t.inverse, key);
      const keys = Object.keys(t.map).filter((k) => t.map[k] === key);
      return typeof explicit === 'string' ? explicit : keys.length === 1 ? keys[0] : undefined;
    };
    const k = typeof v === 'string' ? back(v) : undefined;
    if (k === undefined)
      return {
        error: `${q(target.name)} has a value with no inverse in its value_map; give it in "inverse"`,
      };
    if (s.type === 'number')
      return k !== '' && Number.isFinite(Number(k))
        ? { value: Number(k) }
        : { error: `${q(k)} is not a number` };
    const bool = s.type === 'boolean' && (k === 'true' || k === 'false');
    return { value: bool ? k === 'true' : k };
  }
  if (t.type === 'date') {
    const ms = typeof v === 'string' ? (target.type === 'date' ? parseDay(v) : parseIso(v)) : undefined;
    const kind = target.type === 'date' ? 'date (YYYY-MM-DD)' : 'timestamp';
    if (ms === undefined) return { error: `${q(target.name)} is not a ${kind}` };
    return { value: writeDate(ms, t.format) };
  }
  return undefined;
}

function apply(
  mapping: readonly FieldMapping[],
  input: unknown,
  opts: MappingOptions,
  inbound: boolean,
): MappingResult {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    return {
      values: {},
      errors: [{ path: '', message: `the ${inbound ? 'record' : 'values'} must be an object` }],
    };
  const out: [string, unknown][] = [];
  const errors: MappingProblem[] = [];
  for (const e of analyse(mapping, opts).entries) {
    if (inbound ? !e.inbound : !e.outbound || own(input, e.target.name) === undefined) continue;
    const field = inbound ? e.target : e.sources[0]!;
    const r = inbound ? inboundValue(e, input, opts.sourceName) : outboundValue(e, own(input, e.target.name));
    const lacking = `${q(field.name)} is required: ${q(e.sources[0]!.name)} of ${opts.sourceName} is missing`;
    if (r === undefined && field.required) errors.push({ path: field.name, message: lacking });
    if (r === undefined) continue;
    const problem = 'error' in r ? r.error : valueProblem(r.value, field);
    if (problem) errors.push({ path: field.name, message: problem });
    else out.push([field.name, 'value' in r ? r.value : undefined]);
  }
  return { values: Object.fromEntries(out), errors };
}

/** Maps a provider record to PronaFlow fields (entries that apply inbound). */
export function applyInbound(mapping: readonly FieldMapping[], record: FieldValues, opts: MappingOptions) {
  return apply(mapping, record, opts, true);
}

/**
 * Maps PronaFlow fields, possibly only the changed ones, back to provider fields (entries that
 * apply outbound and whose PronaFlow field is present in `values`).
 */
export function applyOutbound(mapping: readonly FieldMapping[], values: FieldValues, opts: MappingOptions) {
  return apply(mapping, values, opts, false);
}

/** JSON with object keys sorted and `undefined` members left out, at every depth. */
function canonical(v: unknown): string {
  if (typeof (v as { toJSON?: unknown })?.toJSON === 'function') return canonical((v as Date).toJSON());
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonical(x))).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const keys = Object.keys(v)
      .filter((k) => own(v, k) !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(own(v, k))}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** A stable fingerprint of mapped values: equal content gives an equal hash, whatever the key order. */
export function mappedHash(values: FieldValues): string {
  return createHash('sha256').update(canonical(values)).digest('hex');
}
