/**
 * # Plugin configuration schema
 *
 * A plugin's manifest declares the settings a workspace admin fills in when installing it, in a
 * small subset of JSON Schema (in the spirit of VS Code's `contributes.configuration`). The
 * schema is checked when the manifest is published; every installation's `configuration` is
 * validated against it (defaults applied), and again, against the new schema, when the plugin
 * is upgraded.
 *
 * ```json
 * {
 *   "type": "object",
 *   "properties": {
 *     "toolbar": { "type": "string", "enum": ["basic", "full"], "default": "basic" },
 *     "theme": { "type": "string", "enum": ["light", "dark"], "default": "light" },
 *     "api_key": { "type": "string", "secret": true, "minLength": 20 },
 *     "tags": { "type": "array", "items": { "type": "string", "maxLength": 30 }, "maxItems": 10 }
 *   },
 *   "required": ["api_key"],
 *   "additionalProperties": false
 * }
 * ```
 *
 * ## The schema
 * | keyword | where | rule |
 * | --- | --- | --- |
 * | `type` | root | `"object"` (only the root is an object; no nested objects) |
 * | `properties` | root | at most 64 keys matching `^[a-zA-Z][a-zA-Z0-9_]{0,63}$`, each a *field* |
 * | `required` | root | names of declared properties, without repeats |
 * | `additionalProperties` | root | optional; may only be `false`, which is always assumed: unknown keys are errors |
 * | `type` | field | `string`, `integer`, `number`, `boolean` or `array` |
 * | `title` / `description` | field | text, at most 200 / 500 characters |
 * | `default` | field | a value valid against the field itself; applied when the key is absent |
 * | `enum` | string, integer, number, boolean | 1 to 100 distinct values of the field's type (strings ≤ 200 characters), each valid against the field's other keywords |
 * | `minimum` / `maximum` | integer, number | inclusive bounds, `minimum ≤ maximum` (integers for an integer field) |
 * | `minLength` / `maxLength` | string | 0 to 10,000 code points, `minLength ≤ maxLength`; without `maxLength` the bound is 10,000 |
 * | `pattern` | string | an ECMAScript regular expression (compiled with the `u` flag), at most 200 characters; **unanchored**, as in JSON Schema: write `^…$` to match the whole value. Patterns that can backtrack exponentially are refused (see `config-schema-regex.ts`) |
 * | `secret` | string | `true`: stored encrypted, read back as `********`; a secret field has no `default` and no `enum` |
 * | `items` | array | required: a field of type string, integer, number or boolean (no nested arrays, no `default`, no `secret`) |
 * | `minItems` / `maxItems` | array | 0 to 100, `minItems ≤ maxItems`; without `maxItems` the bound is 100 |
 *
 * Any other keyword is refused.
 *
 * ## Validating a configuration
 * - The configuration is a JSON object. Each key must be a declared property; an absent key
 *   takes its `default`, and an absent `required` key without a default is an error.
 * - Types are strict: no coercion (`"5"` is not an integer); an integer is a safe integer;
 *   numbers are finite; `null` is not a value (in an update, `null` removes the key).
 * - Lengths count Unicode code points, not UTF-16 units.
 * - There is one error per offending field, `{ path, message }`, with paths such as
 *   `configuration.theme` or `configuration.tags.2`; messages never repeat the value.
 * - Updates follow JSON Merge Patch (RFC 7386) at the top level: a key set to `null` is removed
 *   (its default then applies), any other value replaces the current one, and a secret field
 *   sent back as `********` keeps its current value.
 * - On upgrade, the previous configuration is validated against the new schema with its
 *   defaults; keys the new schema no longer declares are dropped silently (and listed in
 *   `dropped`), while a value the new schema refuses, or a new required field without default,
 *   is an error.
 */
import * as v from 'valibot';
import {
  DEFAULT,
  int,
  type RefineCtx,
  record,
  refine,
  type Schema,
  superRefine,
} from '#shared/validation.ts';
import { compilePattern, patternProblem } from './config-schema-regex.ts';

/** What a secret field reads as. */
export const MASK = '********';

/** Bounds of the subset. */
export const LIMITS = {
  properties: 64,
  enumValues: 100,
  enumStringLength: 200,
  maxLength: 10_000,
  patternLength: 200,
  maxItems: 100,
  title: 200,
  description: 500,
} as const;

const KEY = /^[a-zA-Z][a-zA-Z0-9_]{0,63}$/;
const KEY_MESSAGE = `property names must match ${KEY.source}`;
const SCALAR_TYPES = ['string', 'integer', 'number', 'boolean'] as const;

/** A keyword that the field's type does not take. */
const notFor = (message: string) => v.optional(v.never(message));

const text = (max: number) => v.pipe(v.string(), v.maxLength(max));
const lengthBound = v.pipe(int(), v.minValue(0), v.maxValue(LIMITS.maxLength));
const itemsBound = v.pipe(int(), v.minValue(0), v.maxValue(LIMITS.maxItems));
const enumOf = <T extends Schema>(value: T) =>
  v.optional(v.pipe(v.array(value), v.minLength(1), v.maxLength(LIMITS.enumValues)));

/** Keywords refused on every non-string scalar, with a message naming the type that takes them. */
const stringOnly = {
  minLength: notFor('minLength applies only to string fields'),
  maxLength: notFor('maxLength applies only to string fields'),
  pattern: notFor('pattern applies only to string fields'),
  secret: notFor('secret is only allowed on string fields'),
};
const numericOnly = {
  minimum: notFor('minimum applies only to integer and number fields'),
  maximum: notFor('maximum applies only to integer and number fields'),
};
const arrayOnly = {
  items: notFor('items applies only to array fields'),
  minItems: notFor('minItems applies only to array fields'),
  maxItems: notFor('maxItems applies only to array fields'),
};

/**
 * The scalar field shapes. As array items they may not carry `default` or `secret` (an item has
 * no default of its own; a secret is a whole field).
 */
function scalarShapes(asItem: boolean) {
  const common = {
    title: v.optional(text(LIMITS.title)),
    description: v.optional(text(LIMITS.description)),
    default: asItem ? notFor('items may not have a default (give the array one)') : v.optional(v.unknown()),
  };
  return [
    v.strictObject({
      type: v.literal('string'),
      ...common,
      enum: enumOf(v.pipe(v.string(), v.maxLength(LIMITS.enumStringLength))),
      minLength: v.optional(lengthBound),
      maxLength: v.optional(lengthBound),
      pattern: v.optional(text(LIMITS.patternLength)),
      secret: asItem
        ? notFor('items may not be secret (make the whole field a string)')
        : v.optional(v.literal(true)),
      ...numericOnly,
      ...arrayOnly,
    }),
    v.strictObject({
      type: v.literal('integer'),
      ...common,
      enum: enumOf(int()),
      minimum: v.optional(int()),
      maximum: v.optional(int()),
      ...stringOnly,
      ...arrayOnly,
    }),
    v.strictObject({
      type: v.literal('number'),
      ...common,
      enum: enumOf(v.number()),
      minimum: v.optional(v.number()),
      maximum: v.optional(v.number()),
      ...stringOnly,
      ...arrayOnly,
    }),
    v.strictObject({
      type: v.literal('boolean'),
      ...common,
      enum: enumOf(v.boolean()),
      ...stringOnly,
      ...numericOnly,
      ...arrayOnly,
    }),
  ] as const;
}

const itemField = v.pipe(
  v.variant(
    'type',
    [...scalarShapes(true)],
    // An object whose `type` names no shape; anything else keeps the usual wording.
    (iss) =>
      iss.path?.length
        ? `type must be one of ${SCALAR_TYPES.join(', ')} (nested arrays are not supported)`
        : DEFAULT,
  ),
  superRefine((field, ctx) => checkField(field, ctx)),
);

const arrayField = v.strictObject({
  type: v.literal('array'),
  title: v.optional(text(LIMITS.title)),
  description: v.optional(text(LIMITS.description)),
  default: v.optional(v.unknown()),
  items: itemField,
  minItems: v.optional(itemsBound),
  maxItems: v.optional(itemsBound),
  enum: notFor('enum does not apply to array fields (put it on items)'),
  ...stringOnly,
  ...numericOnly,
});

const field = v.pipe(
  v.variant('type', [...scalarShapes(false), arrayField], (iss) =>
    iss.path?.length ? `type must be one of ${[...SCALAR_TYPES, 'array'].join(', ')}` : DEFAULT,
  ),
  superRefine((f, ctx) => checkField(f, ctx)),
);

/**
 * The configuration schema of a plugin manifest, checked when the manifest is published. Its
 * output is what {@link validateConfiguration} and the other functions here take.
 */
export const configSchema = v.pipe(
  v.strictObject({
    type: v.literal('object', 'type must be "object"'),
    // A record drops a `__proto__` key without a word: refuse it before it gets there.
    properties: v.pipe(
      v.pipe(
        v.unknown(),
        superRefine((raw, ctx) => {
          if (typeof raw === 'object' && raw !== null && Object.hasOwn(raw, '__proto__')) {
            ctx.addIssue({ code: 'custom', path: ['__proto__'], message: KEY_MESSAGE });
          }
        }),
      ),
      v.pipe(
        record(v.pipe(v.string(), v.regex(KEY)), field, KEY_MESSAGE),
        refine((p) => Object.keys(p).length <= LIMITS.properties, `At most ${LIMITS.properties} properties`),
      ),
    ),
    required: v.optional(v.pipe(v.array(v.string()), v.maxLength(LIMITS.properties))),
    additionalProperties: v.optional(v.literal(false, 'additionalProperties may only be false')),
  }),
  superRefine((schema, ctx) => {
    const seen = new Set<string>();
    for (const [i, name] of (schema.required ?? []).entries()) {
      if (!Object.hasOwn(schema.properties, name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['required', i],
          message: `required names "${name}", which is not a declared property`,
        });
      } else if (seen.has(name)) {
        ctx.addIssue({ code: 'custom', path: ['required', i], message: `"${name}" is listed twice` });
      }
      seen.add(name);
    }
  }),
);

export type ConfigSchema = v.InferOutput<typeof configSchema>;
export type ConfigField = ConfigSchema['properties'][string];
type ScalarField = Exclude<ConfigField, { type: 'array' }>;

/** The consistency of one field: bounds in order, enum and default valid against the field. */
function checkField(f: ConfigField, ctx: RefineCtx): void {
  const issue = (path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  if ((f.type === 'integer' || f.type === 'number') && f.minimum !== undefined && f.maximum !== undefined) {
    if (f.minimum > f.maximum) issue(['minimum'], 'minimum must be at most maximum');
  }
  if (f.type === 'string') {
    if (f.minLength !== undefined && f.minLength > (f.maxLength ?? LIMITS.maxLength)) {
      issue(['minLength'], 'minLength must be at most maxLength');
    }
    if (f.pattern !== undefined) {
      const problem = patternProblem(f.pattern);
      if (problem) issue(['pattern'], problem);
    }
    if (f.secret) {
      if (f.default !== undefined) issue(['default'], 'a secret field may not have a default');
      if (f.enum !== undefined) issue(['enum'], 'a secret field may not have an enum');
    }
  }
  if (f.type === 'array' && f.minItems !== undefined && f.minItems > (f.maxItems ?? LIMITS.maxItems)) {
    issue(['minItems'], 'minItems must be at most maxItems');
  }
  if (f.type !== 'array' && f.enum) {
    const seen = new Set<unknown>();
    const { enum: values, ...rest } = f;
    for (const [i, value] of values.entries()) {
      if (seen.has(value)) issue(['enum', i], 'enum values must be distinct');
      seen.add(value);
      const problem = checkValue(rest as ScalarField, value).message;
      if (problem) issue(['enum', i], `enum value is not valid against the field: ${problem}`);
    }
  }
  // A consistent field only: a default checked against contradictory bounds says nothing useful.
  if (f.default !== undefined && !(f.type === 'string' && f.secret)) {
    const problem = checkValue(f, f.default);
    if (problem.message) issue(['default', ...problem.path], `default is not valid: ${problem.message}`);
  }
}

/** One problem with a configuration. */
export type ConfigError = { path: string; message: string };

export type ValidationResult =
  | { ok: true; value: Record<string, unknown> }
  | { ok: false; errors: ConfigError[] };

const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

const kind = (v: unknown): string =>
  v === null
    ? 'null'
    : Array.isArray(v)
      ? 'array'
      : typeof v === 'number' && !Number.isFinite(v)
        ? String(v)
        : typeof v;

/** Code points of `s`, counting no further than `cap + 1` (enough to compare with a bound). */
function codePoints(s: string, cap: number): number {
  if (s.length <= cap) return [...s].length; // fast path: never above the UTF-16 length
  let n = 0;
  for (const _ of s) {
    if (++n > cap) break;
  }
  return n;
}

const list = (values: readonly unknown[]) => values.map((v) => JSON.stringify(v)).join(', ');

type Check = { message?: string; path: (string | number)[] };
const fine: Check = { path: [] };
const fail = (message: string, path: (string | number)[] = []): Check => ({ message, path });

function checkScalar(f: ScalarField, v: unknown): Check {
  switch (f.type) {
    case 'boolean':
      if (typeof v !== 'boolean') return fail(`Expected a boolean, received ${kind(v)}`);
      break;
    case 'integer':
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
        return fail(
          `Expected an integer, received ${typeof v === 'number' && Number.isFinite(v) ? 'a fraction or an unsafe integer' : kind(v)}`,
        );
      }
      break;
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v))
        return fail(`Expected a finite number, received ${kind(v)}`);
      break;
    case 'string':
      if (typeof v !== 'string') return fail(`Expected a string, received ${kind(v)}`);
      break;
  }
  if (f.enum && !(f.enum as unknown[]).includes(v)) return fail(`Must be one of: ${list(f.enum)}`);
  if (f.type === 'integer' || f.type === 'number') {
    const n = v as number;
    if (f.minimum !== undefined && n < f.minimum) return fail(`Must be at least ${f.minimum}`);
    if (f.maximum !== undefined && n > f.maximum) return fail(`Must be at most ${f.maximum}`);
  }
  if (f.type === 'string') {
    const s = v as string;
    const max = f.maxLength ?? LIMITS.maxLength;
    const length = codePoints(s, max);
    if (length > max) return fail(`Must be at most ${max} characters`);
    if (f.minLength !== undefined && length < f.minLength)
      return fail(`Must be at least ${f.minLength} characters`);
    if (f.pattern !== undefined) {
      const re = compilePattern(f.pattern);
      if (!re?.test(s)) return fail(`Must match the pattern ${f.pattern}`);
    }
  }
  return fine;
}

function checkValue(f: ConfigField, v: unknown): Check {
  if (f.type !== 'array') return checkScalar(f, v);
  if (!Array.isArray(v)) return fail(`Expected an array, received ${kind(v)}`);
  const max = f.maxItems ?? LIMITS.maxItems;
  if (v.length > max) return fail(`Must have at most ${max} items`);
  if (f.minItems !== undefined && v.length < f.minItems)
    return fail(`Must have at least ${f.minItems} items`);
  for (const [i, item] of v.entries()) {
    const problem = checkScalar(f.items, item);
    if (problem.message) return fail(problem.message, [i]);
  }
  return fine;
}

const copy = (v: unknown): unknown => (Array.isArray(v) ? [...v] : v);

/**
 * Validates a configuration against a plugin's schema and applies its defaults.
 *
 * @param prefix the path the errors start with (e.g. `body.configuration`); `configuration` by default
 * @returns the configuration with only declared keys and defaults filled in, or one error per
 *   offending field (an unknown key, a missing required field, a value the field refuses)
 */
export function validateConfiguration(
  schema: ConfigSchema,
  input: unknown,
  prefix = 'configuration',
): ValidationResult {
  const at = (key: string, rest: (string | number)[] = []) =>
    [prefix, key, ...rest].filter((p) => p !== '').join('.');
  if (!isPlainObject(input)) {
    return {
      ok: false,
      errors: [{ path: prefix, message: `Expected a JSON object, received ${kind(input)}` }],
    };
  }
  const errors: ConfigError[] = [];
  const value: Record<string, unknown> = {};
  for (const key of Object.keys(input)) {
    if (!Object.hasOwn(schema.properties, key)) errors.push({ path: at(key), message: 'Unknown setting' });
  }
  const required = new Set(schema.required ?? []);
  for (const [key, f] of Object.entries(schema.properties)) {
    const given = Object.hasOwn(input, key) ? input[key] : undefined;
    if (given === undefined) {
      if (f.default !== undefined) value[key] = copy(f.default);
      else if (required.has(key)) errors.push({ path: at(key), message: 'Required' });
      continue;
    }
    const problem = checkValue(f, given);
    if (problem.message) errors.push({ path: at(key, problem.path), message: problem.message });
    else value[key] = copy(given);
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value };
}

/** The keys of the schema's secret fields, in declaration order. */
export function secretKeys(schema: ConfigSchema): string[] {
  return Object.entries(schema.properties)
    .filter(([, f]) => f.type === 'string' && f.secret === true)
    .map(([key]) => key);
}

const isSet = (value: Record<string, unknown>, key: string) =>
  Object.hasOwn(value, key) && value[key] !== undefined && value[key] !== null;

/** A copy of the configuration in which every secret field that is set reads {@link MASK}. */
export function maskConfiguration(
  schema: ConfigSchema,
  value: Record<string, unknown>,
): Record<string, unknown> {
  const masked = { ...value };
  for (const key of secretKeys(schema)) {
    if (isSet(value, key)) masked[key] = MASK;
  }
  return masked;
}

/** The configuration split into what is stored in clear and the secret fields that are set (to encrypt). */
export function splitSecrets(
  schema: ConfigSchema,
  value: Record<string, unknown>,
): { plain: Record<string, unknown>; secrets: Record<string, string> } {
  const secret = new Set(secretKeys(schema));
  const plain: Record<string, unknown> = {};
  const secrets: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    if (!secret.has(key)) plain[key] = v;
    else if (isSet(value, key)) secrets[key] = v as string;
  }
  return { plain, secrets };
}

/**
 * The configuration after an update, following JSON Merge Patch (RFC 7386) at the top level: a
 * key set to `null` is removed (its default applies again on validation), any other value
 * replaces the current one, and a secret field sent back as {@link MASK} keeps its current value
 * (or stays absent). Unknown keys are carried over so that validation reports them. Validate
 * the result with {@link validateConfiguration}.
 */
export function mergeConfiguration(
  schema: ConfigSchema,
  current: Record<string, unknown>,
  patch: Record<string, unknown>,
): Record<string, unknown> {
  const secret = new Set(secretKeys(schema));
  const merged: Record<string, unknown> = { ...current };
  for (const key of Object.keys(patch)) {
    const v = patch[key];
    if (v === null) delete merged[key];
    else if (secret.has(key) && v === MASK) {
      if (!Object.hasOwn(current, key)) delete merged[key];
    } else merged[key] = v;
  }
  return merged;
}

/**
 * Validates a configuration saved under a previous version against a new version's schema,
 * with the new defaults applied. Keys the new schema no longer declares are dropped silently
 * (they are listed in `dropped`, e.g. for the audit log); anything else the new schema refuses
 * (a value out of a narrowed enum, a new required field without default) is an error.
 */
export function revalidate(
  newSchema: ConfigSchema,
  previousValue: unknown,
  prefix = 'configuration',
): ValidationResult & { dropped: string[] } {
  if (!isPlainObject(previousValue))
    return { ...validateConfiguration(newSchema, previousValue, prefix), dropped: [] };
  const kept: Record<string, unknown> = {};
  const dropped: string[] = [];
  for (const [key, v] of Object.entries(previousValue)) {
    if (Object.hasOwn(newSchema.properties, key)) kept[key] = v;
    else dropped.push(key);
  }
  return { ...validateConfiguration(newSchema, kept, prefix), dropped };
}
