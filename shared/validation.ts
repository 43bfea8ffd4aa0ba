/**
 * The service's schema toolkit, on valibot (small and tree-shakable: a bundle carries only the
 * schemas and actions it uses). Three things valibot leaves to its user live here:
 *
 * - {@link check}: parses and returns either the output or the issues as `{ path, message }`,
 *   paths as arrays of keys. Issues without a message of their own get the wording the service
 *   has always answered (`Invalid input: expected string, received number`, `Too small: expected
 *   string to have >=1 characters`, `Unrecognized key: "x"`…), and an unknown key of a strict
 *   object is reported at the object's path, as before.
 * - String formats with the exact rules the API documents: {@link isoDateTime}, {@link isoDate},
 *   {@link url} (the JSON Schema `format` is carried in metadata and read by the OpenAPI writer).
 * - {@link int}: a safe integer (JSON Schema `integer` with the safe bounds).
 */
import * as v from 'valibot';

/** Any valibot schema (the type every helper takes). */
export type Schema = v.GenericSchema;
export type Output<S extends Schema> = v.InferOutput<S>;
export type Input<S extends Schema> = v.InferInput<S>;

/** One problem found by {@link check}. */
export interface Issue {
  path: (string | number)[];
  message: string;
}

/**
 * The message valibot gives an issue whose schema or action names none (see {@link check}): it is
 * then worded by `defaultMessage`, which needs the whole path (known only at the end). A schema
 * may also answer it from a message function, to keep the usual wording for some of its issues.
 */
export const DEFAULT = '\u0000default';

export type CheckResult<T> = { success: true; data: T } | { success: false; issues: Issue[] };

const DATE =
  '(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))';
const TIME = '(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?';
const DATE_RE = new RegExp(`^${DATE}$`);
const DATETIME_RE = new RegExp(`^${DATE}T(?:${TIME}(?:Z))$`);
const DATETIME_OFFSET_RE = new RegExp(`^${DATE}T(?:${TIME}(?:Z|([+-](?:[01]\\d|2[0-3]):[0-5]\\d)))$`);

/** An RFC 3339 date-time with seconds, `Z` (or, with `offset`, a `±hh:mm` offset). */
export const isoDateTime = (opts: { offset?: boolean } = {}) =>
  v.pipe(
    v.string(),
    v.regex(opts.offset ? DATETIME_OFFSET_RE : DATETIME_RE, 'Invalid ISO datetime'),
    v.metadata({ format: 'date-time' }),
  );

/** A calendar date, `YYYY-MM-DD`. */
export const isoDate = () =>
  v.pipe(v.string(), v.regex(DATE_RE, 'Invalid ISO date'), v.metadata({ format: 'date' }));

const TAB_OR_NEWLINE = /[\t\n\r]/g;
/** The hostname pattern of a public DNS name (`api.example.com`). */
export const DOMAIN = /^(?=.{1,253}$)([a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}$/;

/**
 * An absolute URL (what `URL.parse` accepts, after trimming), optionally with a protocol (without
 * its `:`) and hostname matching patterns. The value given back is trimmed, without tabs or
 * newlines (the URL parser deletes them, so the value then names the host that was checked).
 */
export const url = (opts: { protocol?: RegExp; hostname?: RegExp } = {}) =>
  v.pipe(
    v.string(),
    refine((s) => {
      const u = URL.parse(s.trim());
      if (!u) return false;
      if (opts.hostname && !opts.hostname.test(u.hostname)) return false;
      return !opts.protocol || opts.protocol.test(u.protocol.replace(/:$/, ''));
    }, 'Invalid URL'),
    v.metadata({ format: 'uri' }),
    v.transform((s) => s.trim().replace(TAB_OR_NEWLINE, '')),
  );

/** A safe integer. */
export const int = () => v.pipe(v.number(), v.safeInteger());

// ── Issue wording ───────────────────────────────────────────────────────────

const typeName = (value: unknown): string => {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number')
    return Number.isNaN(value) ? 'NaN' : Number.isFinite(value) ? 'number' : String(value);
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) return 'object';
    return (value as object).constructor?.name === 'Date' ? 'date' : 'object';
  }
  return typeof value;
};

const EXPECTED: Record<string, string> = { Object: 'object', Array: 'array', Date: 'date' };

/** A schema's name in messages (`string`, `int`, `object`…), `undefined` when it has none. */
function schemaName(schema: Schema | undefined): string | undefined {
  if (!schema) return undefined;
  const s = schema as Schema & { type: string };
  if (s.type === 'picklist' || s.type === 'literal' || s.type === 'union' || s.type === 'variant')
    return undefined;
  if (['strict_object', 'loose_object', 'object_with_rest', 'record'].includes(s.type)) return 'object';
  return s.type;
}

/** The schema of the entry an `object` issue is about (a required key that is absent). */
function entrySchema(root: Schema | undefined, path: v.IssuePathItem[], value?: unknown): Schema | undefined {
  type Node = Schema & Record<string, unknown>;
  /** `s` without its optional/nullable wrappers; of a variant, the option `input` takes. */
  const resolve = (s: Node | undefined, input: unknown): Node | undefined => {
    for (;;) {
      if (s && 'wrapped' in s) s = s.wrapped as Node;
      else if (
        s &&
        Array.isArray(s.pipe) &&
        !('entries' in s || 'item' in s || 'value' in s || 'options' in s)
      ) {
        // A pipe handing its value on to another schema: the last one shapes the value.
        const items = s.pipe as Node[];
        const next = items
          .slice(1)
          .reverse()
          .find((p) => p.kind === 'schema');
        if (!next) break;
        s = next;
      } else break;
    }
    if (s?.type === 'variant' && input && typeof input === 'object') {
      const key = s.key as string;
      const value = (input as Record<string, unknown>)[key];
      s = (s.options as Node[]).find(
        (o) => (o.entries as Record<string, { literal?: unknown }> | undefined)?.[key]?.literal === value,
      );
    }
    return s;
  };
  let s = root as Node | undefined;
  for (const item of path) {
    s = resolve(s, item.input);
    if (!s) return undefined;
    const key = item.key as string | number;
    if ('entries' in s) s = (s.entries as Record<string, Node>)[key];
    else if ('item' in s) s = s.item as Node;
    else if ('value' in s && 'key' in s) s = s.value as Node;
    else return undefined;
  }
  return resolve(s, value ?? path.at(-1)?.value);
}

const quote = (v: unknown) => (typeof v === 'string' ? `"${v}"` : String(v));

/** The message of an issue that carries none of its own, in the service's wording. */
function defaultMessage(issue: v.BaseIssue<unknown>, root: Schema | undefined): string {
  const i = issue as v.BaseIssue<unknown> & { requirement?: unknown };
  if (i.kind === 'schema') {
    switch (i.type) {
      case 'picklist':
      case 'enum': {
        const options = ((issue as unknown as { expected: string }).expected ?? '').split(' | ');
        return options.length === 1
          ? `Invalid input: expected ${options[0]}`
          : `Invalid option: expected one of ${options.join('|')}`;
      }
      case 'literal':
        return `Invalid input: expected ${i.expected}`;
      case 'union':
      case 'variant':
        return 'Invalid input';
      case 'strict_object':
        if (i.expected === 'never') {
          // valibot names the first unknown key; every one of them is listed.
          const path = i.path ?? [];
          const object = path.at(-1)?.input as Record<string, unknown> | undefined;
          const entries = (entrySchema(root, path.slice(0, -1), object) as { entries?: object } | undefined)
            ?.entries;
          const keys =
            object && entries ? Object.keys(object).filter((k) => !Object.hasOwn(entries, k)) : [i.input];
          return `Unrecognized key${keys.length > 1 ? 's' : ''}: ${keys.map(quote).join(', ')}`;
        }
        break;
    }
    if (
      (i.type === 'object' || i.type === 'strict_object' || i.type === 'loose_object') &&
      i.input === undefined &&
      i.expected?.startsWith('"')
    ) {
      // A required key is absent: name what the key should hold.
      const entry = entrySchema(root, i.path ?? []);
      const t = entry as (Schema & { type: string; options?: unknown[]; literal?: unknown }) | undefined;
      if (t?.type === 'picklist' || t?.type === 'enum') {
        const options = (t.options ?? []) as unknown[];
        return options.length === 1
          ? `Invalid input: expected ${quote(options[0])}`
          : `Invalid option: expected one of ${options.map(quote).join('|')}`;
      }
      if (t?.type === 'literal') return `Invalid input: expected ${quote(t.literal)}`;
      const name = schemaName(entry);
      return name ? `Invalid input: expected ${name}, received undefined` : 'Invalid input';
    }
    const expected = i.expected ?? 'unknown';
    return `Invalid input: expected ${EXPECTED[expected] ?? expected}, received ${typeName(i.input)}`;
  }
  const origin = typeName(i.input);
  const unit = origin === 'string' ? 'characters' : 'items';
  switch (i.type) {
    case 'min_length':
    case 'non_empty':
      return `Too small: expected ${origin} to have >=${i.requirement ?? 1} ${unit}`;
    case 'max_length':
      return `Too big: expected ${origin} to have <=${i.requirement} ${unit}`;
    case 'length':
      return `Too ${(i.input as string).length > (i.requirement as number) ? 'big' : 'small'}: expected ${origin} to have exactly ${i.requirement} ${unit}`;
    case 'min_value':
      return `Too small: expected ${origin} to be >=${i.requirement}`;
    case 'max_value':
      return `Too big: expected ${origin} to be <=${i.requirement}`;
    case 'gt_value':
      return `Too small: expected ${origin} to be >${i.requirement}`;
    case 'lt_value':
      return `Too big: expected ${origin} to be <${i.requirement}`;
    case 'integer':
      return `Invalid input: expected int, received ${origin}`;
    case 'safe_integer':
      return Number.isInteger(i.input)
        ? `Too ${(i.input as number) > 0 ? 'big: expected int to be <=' : 'small: expected int to be >='}${(i.input as number) > 0 ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER}`
        : `Invalid input: expected int, received ${origin}`;
    case 'regex':
      return `Invalid string: must match pattern ${i.requirement}`;
    case 'starts_with':
      return `Invalid string: must start with "${i.requirement}"`;
    case 'url':
      return 'Invalid URL';
    case 'email':
      return 'Invalid email address';
    case 'uuid':
      return 'Invalid UUID';
    default:
      return 'Invalid input';
  }
}

/** The path of an issue as keys; an unknown key of a strict object is reported at the object. */
function issuePath(issue: v.BaseIssue<unknown>): (string | number)[] {
  const path = (issue.path ?? []).map((p) => p.key as string | number);
  if (issue.kind === 'schema' && issue.type === 'strict_object' && issue.expected === 'never') path.pop();
  return path;
}

/** Parses `value` with `schema`: its output, or every issue with its path and message. */
export function check<S extends Schema>(schema: S, value: unknown): CheckResult<v.InferOutput<S>> {
  const result = v.safeParse(schema, value, { message: DEFAULT });
  if (result.success) return { success: true, data: result.output };
  return { success: false, issues: toIssues(result.issues, schema) };
}

/** Issues of a failed parse as {@link Issue}s (see {@link check}). */
export function toIssues(issues: readonly v.BaseIssue<unknown>[], root?: Schema): Issue[] {
  return issues.map((issue) => ({
    path: issuePath(issue),
    message: issue.message === DEFAULT ? defaultMessage(issue, root) : issue.message,
  }));
}

/** Like {@link check}, throwing an Error listing the issues (`path: message; …`). */
export function parseOrThrow<S extends Schema>(schema: S, value: unknown, what = 'value'): v.InferOutput<S> {
  const r = check(schema, value);
  if (r.success) return r.data;
  throw new Error(`Invalid ${what}: ${formatIssues(r.issues)}`);
}

/** `path: message; …` (the root as `(root)`). */
export const formatIssues = (issues: Issue[]) =>
  issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');

/** A number from a string (query strings, environment variables): `Number(value)`, then checked. */
export const coerceNumber = () => v.pipe(v.unknown(), v.transform(Number), v.number());

/** What a {@link superRefine} check is given: `addIssue` with a path relative to the value. */
export interface RefineCtx {
  addIssue(issue: { code?: string; path?: PropertyKey[]; message: string }): void;
}

/**
 * A check in code that may report several issues, each at its own path under the value; like
 * {@link refine}, run only on a value that has passed everything before it.
 */
export const superRefine = <T>(fn: (value: T, ctx: RefineCtx) => void) =>
  v.rawCheck<T>(({ dataset, addIssue }) => {
    if (!dataset.typed || dataset.issues) return;
    fn(dataset.value, {
      addIssue: ({ path = [], message }) =>
        addIssue({
          message,
          path: path.map((key) => ({
            type: 'unknown',
            origin: 'value',
            input: dataset.value,
            key: key as string,
            value: undefined,
          })) as unknown as [v.IssuePathItem, ...v.IssuePathItem[]],
        }),
    });
  });

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
};

/**
 * A record: a plain object (not an array) whose every key and value pass their schemas. Unlike
 * valibot's own `record`, it keeps keys named `constructor` or `prototype` (only `__proto__` is
 * dropped); a key its schema refuses is one issue at that key (`message`, by default `Invalid key
 * in record`) and its value is not checked. Converted to JSON Schema as a record.
 */
export function record<K extends v.GenericSchema<string, string>, V extends Schema>(
  key: K,
  value: V,
  message?: string,
): v.RecordSchema<K, V, undefined> {
  const base = v.record(key, value);
  return {
    ...base,
    '~run'(dataset: v.UnknownDataset, config: v.Config<v.BaseIssue<unknown>>) {
      const input = dataset.value;
      const issues: v.BaseIssue<unknown>[] = [];
      const out = dataset as unknown as v.OutputDataset<unknown, v.BaseIssue<unknown>>;
      if (!isPlainObject(input)) {
        issues.push({
          kind: 'schema',
          type: 'record',
          input,
          expected: 'Object',
          received: typeName(input),
          message: `Invalid input: expected record, received ${typeName(input)}`,
        });
        return { ...out, typed: false, issues } as never;
      }
      const result: Record<string, unknown> = {};
      let typed = true;
      for (const entryKey of Object.keys(input)) {
        if (entryKey === '__proto__') continue;
        const entryValue = input[entryKey];
        const item = { type: 'object', origin: 'value', input, key: entryKey, value: entryValue } as const;
        const keyResult = key['~run']({ value: entryKey }, config);
        if (keyResult.issues) {
          typed = false;
          issues.push({
            kind: 'schema',
            type: 'record',
            input: entryKey,
            expected: 'key',
            received: `"${entryKey}"`,
            message: message ?? 'Invalid key in record',
            path: [{ ...item, origin: 'key' }],
          });
          continue;
        }
        const valueResult = value['~run']({ value: entryValue }, config);
        if (valueResult.issues) {
          for (const issue of valueResult.issues) {
            issues.push({ ...issue, path: [item, ...(issue.path ?? [])] } as v.BaseIssue<unknown>);
          }
        }
        if (!valueResult.typed) typed = false;
        result[keyResult.value as string] = valueResult.value;
      }
      return (issues.length ? { typed, value: result, issues } : { typed: true, value: result }) as never;
    },
  } as v.RecordSchema<K, V, undefined>;
}

/**
 * A check in code (`fn` answers whether the value is fine), run only on a value that has passed
 * everything before it: a value with an invalid field gets that field's issue, not also this one.
 */
export const refine = <T>(fn: (value: T) => boolean, message?: string) =>
  v.rawCheck<T>(({ dataset, addIssue }) => {
    if (dataset.typed && !dataset.issues && !fn(dataset.value)) addIssue(message ? { message } : undefined);
  });
