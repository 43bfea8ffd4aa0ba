import fc from 'fast-check';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import {
  type ConfigSchema,
  configSchema,
  LIMITS,
  MASK,
  maskConfiguration,
  mergeConfiguration,
  revalidate,
  secretKeys,
  splitSecrets,
  validateConfiguration,
} from '#shared/plugins/config-schema.ts';
import { patternProblem } from '#shared/plugins/config-schema-regex.ts';
import { check } from '#shared/validation.ts';

/** The product spec's example plugin. */
const markdownEditor = {
  type: 'object',
  properties: {
    toolbar: { type: 'string', enum: ['basic', 'full'], default: 'basic' },
    theme: { type: 'string', enum: ['light', 'dark'], default: 'light' },
  },
  additionalProperties: false,
} as const;

const parse = (schema: unknown): ConfigSchema => v.parse(configSchema, schema);
const withField = (field: unknown, extra: Record<string, unknown> = {}) => ({
  type: 'object',
  properties: { a: field },
  ...extra,
});
/** The issues of a schema that does not parse, as `path: message` lines. */
const issues = (schema: unknown): string[] => {
  const result = check(configSchema, schema);
  if (result.success) return [];
  return result.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('configSchema', () => {
  it('accepts the markdown-editor schema', () => {
    expect(issues(markdownEditor)).toEqual([]);
  });

  it('accepts every keyword of the subset in its place', () => {
    const schema = {
      type: 'object',
      properties: {
        name: {
          type: 'string',
          title: 'Name',
          description: 'Shown in the sidebar',
          minLength: 1,
          maxLength: 40,
          pattern: '^[A-Za-z ]+$',
          default: 'Docs',
        },
        api_key: { type: 'string', secret: true, minLength: 20 },
        retries: { type: 'integer', minimum: 0, maximum: 10, default: 3 },
        ratio: { type: 'number', minimum: 0, maximum: 1, enum: [0, 0.5, 1] },
        enabled: { type: 'boolean', default: true },
        tags: {
          type: 'array',
          items: { type: 'string', maxLength: 30, enum: ['a', 'b'] },
          minItems: 0,
          maxItems: 2,
          default: ['a'],
        },
      },
      required: ['api_key', 'retries'],
    };
    expect(issues(schema)).toEqual([]);
  });

  it('refuses a root that is not an object schema, or allows additional properties', () => {
    expect(issues({ type: 'array', properties: {} })).toEqual(['type: type must be "object"']);
    expect(issues({ type: 'object', properties: {}, additionalProperties: true })).toEqual([
      'additionalProperties: additionalProperties may only be false',
    ]);
    expect(issues({ type: 'object', properties: {}, $schema: 'x' })).toEqual([
      ': Unrecognized key: "$schema"',
    ]);
  });

  it('refuses property names outside ^[a-zA-Z][a-zA-Z0-9_]{0,63}$', () => {
    for (const key of ['1a', '_a', 'a-b', 'a.b', '', 'a'.repeat(65), '__proto__']) {
      const schema = { type: 'object', properties: JSON.parse(`{${JSON.stringify(key)}:{"type":"string"}}`) };
      expect(issues(schema)).toEqual([
        `properties.${key}: property names must match ^[a-zA-Z][a-zA-Z0-9_]{0,63}$`,
      ]);
    }
    expect(
      issues(withField({ type: 'string' }, { properties: { ['a'.repeat(64)]: { type: 'string' } } })),
    ).toEqual([]);
  });

  it('refuses more than 64 properties', () => {
    const properties = Object.fromEntries(
      Array.from({ length: 65 }, (_, i) => [`k${i}`, { type: 'boolean' }]),
    );
    expect(issues({ type: 'object', properties })).toEqual(['properties: At most 64 properties']);
    delete properties.k64;
    expect(issues({ type: 'object', properties })).toEqual([]);
  });

  it('refuses an unknown type and an unknown keyword', () => {
    expect(issues(withField({ type: 'date' }))).toEqual([
      'properties.a.type: type must be one of string, integer, number, boolean, array',
    ]);
    expect(issues(withField({ type: 'string', format: 'email' }))).toEqual([
      'properties.a: Unrecognized key: "format"',
    ]);
  });

  it('refuses a keyword that the field type does not take, naming the type that does', () => {
    expect(issues(withField({ type: 'integer', minLength: 1 }))).toEqual([
      'properties.a.minLength: minLength applies only to string fields',
    ]);
    expect(issues(withField({ type: 'string', minimum: 1 }))).toEqual([
      'properties.a.minimum: minimum applies only to integer and number fields',
    ]);
    expect(issues(withField({ type: 'boolean', maxItems: 1 }))).toEqual([
      'properties.a.maxItems: maxItems applies only to array fields',
    ]);
    expect(issues(withField({ type: 'array', items: { type: 'string' }, enum: [['a']] }))).toEqual([
      'properties.a.enum: enum does not apply to array fields (put it on items)',
    ]);
  });

  it('bounds title and description', () => {
    expect(
      issues(withField({ type: 'string', description: 'd'.repeat(500), title: 't'.repeat(200) })),
    ).toEqual([]);
    expect(issues(withField({ type: 'string', description: 'd'.repeat(501) }))).toHaveLength(1);
    expect(issues(withField({ type: 'string', title: 't'.repeat(201) }))).toHaveLength(1);
  });

  describe('required', () => {
    it('names declared properties only, once each', () => {
      expect(issues(withField({ type: 'string' }, { required: ['a', 'b', 'a'] }))).toEqual([
        'required.1: required names "b", which is not a declared property',
        'required.2: "a" is listed twice',
      ]);
    });

    it('does not find names on the prototype', () => {
      expect(issues(withField({ type: 'string' }, { required: ['toString'] }))).toEqual([
        'required.0: required names "toString", which is not a declared property',
      ]);
    });
  });

  describe('default', () => {
    it('must be valid against its own field', () => {
      expect(issues(withField({ type: 'integer', default: '5' }))).toEqual([
        'properties.a.default: default is not valid: Expected an integer, received string',
      ]);
      expect(issues(withField({ type: 'string', enum: ['x'], default: 'y' }))).toEqual([
        'properties.a.default: default is not valid: Must be one of: "x"',
      ]);
      expect(issues(withField({ type: 'integer', maximum: 3, default: 4 }))).toEqual([
        'properties.a.default: default is not valid: Must be at most 3',
      ]);
      expect(issues(withField({ type: 'string', pattern: '^a', default: 'b' }))).toEqual([
        'properties.a.default: default is not valid: Must match the pattern ^a',
      ]);
    });

    it('of an array is checked item by item, with the index in the path', () => {
      expect(issues(withField({ type: 'array', items: { type: 'integer' }, default: [1, 'two'] }))).toEqual([
        'properties.a.default.1: default is not valid: Expected an integer, received string',
      ]);
    });
  });

  describe('bounds', () => {
    it('wants minimum ≤ maximum, minLength ≤ maxLength, minItems ≤ maxItems', () => {
      expect(issues(withField({ type: 'number', minimum: 2, maximum: 1 }))).toEqual([
        'properties.a.minimum: minimum must be at most maximum',
      ]);
      expect(issues(withField({ type: 'number', minimum: 1, maximum: 1 }))).toEqual([]);
      expect(issues(withField({ type: 'string', minLength: 5, maxLength: 4 }))).toEqual([
        'properties.a.minLength: minLength must be at most maxLength',
      ]);
      expect(
        issues(withField({ type: 'array', items: { type: 'boolean' }, minItems: 3, maxItems: 2 })),
      ).toEqual(['properties.a.minItems: minItems must be at most maxItems']);
    });

    it('wants integer bounds on an integer field', () => {
      expect(issues(withField({ type: 'integer', minimum: 0.5 }))).toHaveLength(1);
    });

    it('caps maxLength at 10,000 and maxItems at 100', () => {
      expect(issues(withField({ type: 'string', maxLength: 10_000 }))).toEqual([]);
      expect(issues(withField({ type: 'string', maxLength: 10_001 }))).toEqual([
        'properties.a.maxLength: Too big: expected number to be <=10000',
      ]);
      expect(issues(withField({ type: 'string', minLength: 10_001 }))).toContain(
        'properties.a.minLength: Too big: expected number to be <=10000',
      );
      expect(issues(withField({ type: 'array', items: { type: 'string' }, maxItems: 101 }))).toEqual([
        'properties.a.maxItems: Too big: expected number to be <=100',
      ]);
      expect(issues(withField({ type: 'string', maxLength: -1 }))).toHaveLength(1);
    });
  });

  describe('enum', () => {
    it('holds 1 to 100 values of the field type', () => {
      expect(issues(withField({ type: 'string', enum: ['x', 1] }))).toEqual([
        'properties.a.enum.1: Invalid input: expected string, received number',
      ]);
      expect(issues(withField({ type: 'integer', enum: [1, 1.5] }))).toHaveLength(1);
      expect(issues(withField({ type: 'boolean', enum: ['true'] }))).toHaveLength(1);
      expect(issues(withField({ type: 'string', enum: [] }))).toHaveLength(1);
      const hundred = Array.from({ length: 100 }, (_, i) => `v${i}`);
      expect(issues(withField({ type: 'string', enum: hundred }))).toEqual([]);
      expect(issues(withField({ type: 'string', enum: [...hundred, 'v100'] }))).toHaveLength(1);
    });

    it('holds strings of at most 200 characters', () => {
      expect(issues(withField({ type: 'string', enum: ['x'.repeat(200)] }))).toEqual([]);
      expect(issues(withField({ type: 'string', enum: ['x'.repeat(201)] }))).toHaveLength(1);
    });

    it('holds distinct values, each valid against the rest of the field', () => {
      expect(issues(withField({ type: 'string', enum: ['x', 'x'] }))).toEqual([
        'properties.a.enum.1: enum values must be distinct',
      ]);
      expect(issues(withField({ type: 'string', maxLength: 3, enum: ['abc', 'abcd'] }))).toEqual([
        'properties.a.enum.1: enum value is not valid against the field: Must be at most 3 characters',
      ]);
      expect(issues(withField({ type: 'integer', minimum: 0, enum: [-1, 0] }))).toEqual([
        'properties.a.enum.0: enum value is not valid against the field: Must be at least 0',
      ]);
    });
  });

  describe('secret', () => {
    it('is only allowed on string fields, and only as true', () => {
      expect(issues(withField({ type: 'integer', secret: true }))).toEqual([
        'properties.a.secret: secret is only allowed on string fields',
      ]);
      expect(issues(withField({ type: 'array', items: { type: 'string' }, secret: true }))).toEqual([
        'properties.a.secret: secret is only allowed on string fields',
      ]);
      expect(issues(withField({ type: 'string', secret: false }))).toHaveLength(1);
    });

    it('may not have a default or an enum', () => {
      expect(
        issues(withField({ type: 'string', secret: true, default: 'hunter2', enum: ['hunter2'] })),
      ).toEqual([
        'properties.a.default: a secret field may not have a default',
        'properties.a.enum: a secret field may not have an enum',
      ]);
    });
  });

  describe('pattern', () => {
    it('must compile (u flag) and be at most 200 characters', () => {
      expect(issues(withField({ type: 'string', pattern: '[' }))[0]).toMatch(
        /^properties\.a\.pattern: pattern does not compile: /,
      );
      // Valid without the u flag, not with it.
      expect(issues(withField({ type: 'string', pattern: '\\-' }))).toHaveLength(1);
      expect(issues(withField({ type: 'string', pattern: 'a'.repeat(200) }))).toEqual([]);
      expect(issues(withField({ type: 'string', pattern: 'a'.repeat(201) }))).toHaveLength(1);
    });

    it('refuses a catastrophic pattern', () => {
      expect(issues(withField({ type: 'string', pattern: '^(a+)+$' }))).toEqual([
        'properties.a.pattern: nested repetition (such as (a+)+) can take exponential time',
      ]);
    });
  });

  describe('items', () => {
    it('is required on an array field, and a scalar field without nested arrays', () => {
      expect(issues(withField({ type: 'array' }))).toHaveLength(1);
      expect(
        issues(withField({ type: 'array', items: { type: 'array', items: { type: 'string' } } })),
      ).toEqual([
        'properties.a.items.type: type must be one of string, integer, number, boolean (nested arrays are not supported)',
      ]);
    });

    it('has no default or secret of its own, and is checked like a field', () => {
      expect(issues(withField({ type: 'array', items: { type: 'string', default: 'x' } }))).toEqual([
        'properties.a.items.default: items may not have a default (give the array one)',
      ]);
      expect(issues(withField({ type: 'array', items: { type: 'string', secret: true } }))).toEqual([
        'properties.a.items.secret: items may not be secret (make the whole field a string)',
      ]);
      expect(issues(withField({ type: 'array', items: { type: 'string', pattern: '(a*)*' } }))).toEqual([
        'properties.a.items.pattern: nested repetition (such as (a+)+) can take exponential time',
      ]);
      expect(
        issues(withField({ type: 'array', items: { type: 'integer', minimum: 2, maximum: 1 } })),
      ).toEqual(['properties.a.items.minimum: minimum must be at most maximum']);
    });
  });
});

describe('patternProblem (ReDoS structural check)', () => {
  it.each([
    ['(a+)+', 'nested repetition'],
    ['(a*)*', 'nested repetition'],
    ['^(\\w+\\s?)*$', 'nested repetition'],
    ['(a+){2,5}', 'nested repetition'],
    ['((ab)+c)*', 'nested repetition'],
    ['(a{1,20}){1,20}', 'nested repetition'],
    ['(a|a)*', 'alternate'],
    ['(a|ab)+', 'alternate'],
    ['(\\w|\\d)+', 'alternate'],
    ['(.|x)*', 'alternate'],
    ['(x(a|a))*', 'alternate'],
    ['(|a)*', 'alternate'],
    ['(a)\\1', 'backreferences'],
    ['(?<n>a)\\k<n>', 'backreferences'],
  ])('refuses %s', (pattern, reason) => {
    expect(patternProblem(pattern)).toContain(reason);
  });

  it.each([
    '^[a-z0-9-]+$',
    '^#[0-9a-fA-F]{6}$',
    '^(\\d{1,3}\\.){3}\\d{1,3}$',
    '(foo|bar)+',
    '(?:a|b)*',
    '^(https?|ftp)://[^\\s]+$',
    '^\\p{L}+$',
    '^[\\]()|+*]+$',
    '😀+',
    '^(?=.*\\d).{8,}$',
  ])('accepts %s', (pattern) => {
    expect(patternProblem(pattern)).toBeUndefined();
  });

  it('refuses a pattern that does not compile', () => {
    expect(patternProblem('(a')).toMatch(/^pattern does not compile/);
  });

  it('never throws, whatever the pattern', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'()[]{}|*+?\\^$.,:=!<>a1kpu-') }), (pattern) => {
        const problem = patternProblem(pattern);
        expect(problem === undefined || typeof problem === 'string').toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('lets accepted patterns run in linear time on 10,000 characters of adversarial input', () => {
    const started = performance.now();
    /^(foo|bar)+$/u.test(`${'foo'.repeat(3333)}!`);
    /^(\d{1,3}\.){3}\d{1,3}$/u.test('1.'.repeat(5000));
    expect(performance.now() - started).toBeLessThan(200);
  });
});

describe('validateConfiguration', () => {
  const editor = parse(markdownEditor);

  it('accepts the markdown-editor example as-is', () => {
    expect(validateConfiguration(editor, { toolbar: 'full', theme: 'dark' })).toEqual({
      ok: true,
      value: { toolbar: 'full', theme: 'dark' },
    });
  });

  it('gives exactly two errors for { toolbar: "huge", colour: 1 }, with their paths', () => {
    const result = validateConfiguration(editor, { toolbar: 'huge', colour: 1 }, 'body.configuration');
    expect(result).toEqual({
      ok: false,
      errors: [
        { path: 'body.configuration.colour', message: 'Unknown setting' },
        { path: 'body.configuration.toolbar', message: 'Must be one of: "basic", "full"' },
      ],
    });
  });

  it('applies defaults for absent fields', () => {
    expect(validateConfiguration(editor, {})).toEqual({
      ok: true,
      value: { toolbar: 'basic', theme: 'light' },
    });
    expect(validateConfiguration(editor, { theme: 'dark' })).toEqual({
      ok: true,
      value: { toolbar: 'basic', theme: 'dark' },
    });
  });

  it('prefixes paths with "configuration" unless told otherwise', () => {
    const result = validateConfiguration(editor, { colour: 1 });
    expect(result.ok === false && result.errors).toEqual([
      { path: 'configuration.colour', message: 'Unknown setting' },
    ]);
  });

  it.each([
    [null, 'null'],
    [[], 'array'],
    ['{}', 'string'],
    [42, 'number'],
    [undefined, 'undefined'],
    [new Date(0), 'object'],
  ])('wants a JSON object, not %j', (input, received) => {
    expect(validateConfiguration(editor, input)).toEqual({
      ok: false,
      errors: [{ path: 'configuration', message: `Expected a JSON object, received ${received}` }],
    });
  });

  it('reports a missing required field without default, and fills one with a default', () => {
    const schema = parse({
      type: 'object',
      properties: { url: { type: 'string' }, mode: { type: 'string', default: 'fast' } },
      required: ['url', 'mode'],
    });
    expect(validateConfiguration(schema, {})).toEqual({
      ok: false,
      errors: [{ path: 'configuration.url', message: 'Required' }],
    });
    expect(validateConfiguration(schema, { url: 'x' })).toEqual({
      ok: true,
      value: { url: 'x', mode: 'fast' },
    });
  });

  it('leaves an optional field without default absent', () => {
    const schema = parse(withField({ type: 'string' }));
    expect(validateConfiguration(schema, {})).toEqual({ ok: true, value: {} });
  });

  it('reports every unknown key, including names found on Object.prototype', () => {
    const schema = parse(withField({ type: 'string' }));
    const input = JSON.parse(
      '{"toString":"x","constructor":1,"__proto__":{"a":"polluted"},"hasOwnProperty":true}',
    );
    const result = validateConfiguration(schema, input);
    expect(result.ok === false && result.errors.map((e) => e.path)).toEqual([
      'configuration.toString',
      'configuration.constructor',
      'configuration.__proto__',
      'configuration.hasOwnProperty',
    ]);
  });

  it('handles a declared property named like an Object.prototype member', () => {
    const schema = parse({ type: 'object', properties: { constructor: { type: 'string', default: 'c' } } });
    expect(validateConfiguration(schema, {})).toEqual({ ok: true, value: { constructor: 'c' } });
    expect(validateConfiguration(schema, { constructor: 'd' })).toEqual({
      ok: true,
      value: { constructor: 'd' },
    });
  });

  it('gives one error per offending field', () => {
    const schema = parse({
      type: 'object',
      properties: {
        n: { type: 'integer', minimum: 10, maximum: 20 },
        s: { type: 'string', minLength: 5, pattern: '^x' },
      },
    });
    const result = validateConfiguration(schema, { n: 1.5, s: 'y', extra: true });
    expect(result).toEqual({
      ok: false,
      errors: [
        { path: 'configuration.extra', message: 'Unknown setting' },
        { path: 'configuration.n', message: 'Expected an integer, received a fraction or an unsafe integer' },
        { path: 'configuration.s', message: 'Must be at least 5 characters' },
      ],
    });
  });

  describe('types, strictly', () => {
    const schema = parse({
      type: 'object',
      properties: {
        i: { type: 'integer' },
        n: { type: 'number' },
        b: { type: 'boolean' },
        s: { type: 'string' },
        l: { type: 'array', items: { type: 'integer' } },
      },
    });
    const errorOf = (key: string, v: unknown) => {
      const result = validateConfiguration(schema, { [key]: v });
      return result.ok ? undefined : result.errors[0]!.message;
    };

    it('does not coerce', () => {
      expect(errorOf('i', '5')).toBe('Expected an integer, received string');
      expect(errorOf('n', '5')).toBe('Expected a finite number, received string');
      expect(errorOf('b', 'true')).toBe('Expected a boolean, received string');
      expect(errorOf('b', 1)).toBe('Expected a boolean, received number');
      expect(errorOf('s', 5)).toBe('Expected a string, received number');
      expect(errorOf('l', '1')).toBe('Expected an array, received string');
      expect(errorOf('l', { 0: 1 })).toBe('Expected an array, received object');
    });

    it('wants an integer to be a safe integer and a number to be finite', () => {
      expect(errorOf('i', 5)).toBeUndefined();
      expect(errorOf('i', -0)).toBeUndefined();
      expect(errorOf('i', 5.5)).toBe('Expected an integer, received a fraction or an unsafe integer');
      expect(errorOf('i', 2 ** 53)).toBe('Expected an integer, received a fraction or an unsafe integer');
      expect(errorOf('i', Number.NaN)).toBe('Expected an integer, received NaN');
      expect(errorOf('n', 5.5)).toBeUndefined();
      expect(errorOf('n', Number.POSITIVE_INFINITY)).toBe('Expected a finite number, received Infinity');
      expect(errorOf('n', Number.NaN)).toBe('Expected a finite number, received NaN');
    });

    it('treats null as a wrong value, not as absent', () => {
      expect(errorOf('s', null)).toBe('Expected a string, received null');
    });
  });

  it('checks minimum and maximum inclusively', () => {
    const schema = parse(withField({ type: 'number', minimum: -1, maximum: 1 }));
    expect(validateConfiguration(schema, { a: -1 }).ok).toBe(true);
    expect(validateConfiguration(schema, { a: 1 }).ok).toBe(true);
    expect(validateConfiguration(schema, { a: 1.01 })).toEqual({
      ok: false,
      errors: [{ path: 'configuration.a', message: 'Must be at most 1' }],
    });
    expect(validateConfiguration(schema, { a: -2 })).toEqual({
      ok: false,
      errors: [{ path: 'configuration.a', message: 'Must be at least -1' }],
    });
  });

  it('counts lengths in Unicode code points', () => {
    const schema = parse(withField({ type: 'string', minLength: 2, maxLength: 3 }));
    expect(validateConfiguration(schema, { a: '😀😀😀' }).ok).toBe(true); // 6 UTF-16 units
    expect(validateConfiguration(schema, { a: '😀😀😀😀' })).toEqual({
      ok: false,
      errors: [{ path: 'configuration.a', message: 'Must be at most 3 characters' }],
    });
    expect(validateConfiguration(schema, { a: '😀' })).toEqual({
      ok: false,
      errors: [{ path: 'configuration.a', message: 'Must be at least 2 characters' }],
    });
  });

  it('bounds a string at 10,000 code points when the schema gives no maxLength', () => {
    const schema = parse(withField({ type: 'string' }));
    expect(validateConfiguration(schema, { a: 'x'.repeat(10_000) }).ok).toBe(true);
    expect(validateConfiguration(schema, { a: 'x'.repeat(10_001) })).toEqual({
      ok: false,
      errors: [{ path: 'configuration.a', message: 'Must be at most 10000 characters' }],
    });
  });

  it('checks the length before running the pattern', () => {
    const schema = parse(withField({ type: 'string', maxLength: 5, pattern: '^x+$' }));
    expect(validateConfiguration(schema, { a: 'y'.repeat(6) })).toEqual({
      ok: false,
      errors: [{ path: 'configuration.a', message: 'Must be at most 5 characters' }],
    });
  });

  it('matches pattern unanchored, as JSON Schema does', () => {
    const loose = parse(withField({ type: 'string', pattern: 'b' }));
    expect(validateConfiguration(loose, { a: 'abc' }).ok).toBe(true);
    expect(validateConfiguration(loose, { a: 'xyz' })).toEqual({
      ok: false,
      errors: [{ path: 'configuration.a', message: 'Must match the pattern b' }],
    });
    const anchored = parse(withField({ type: 'string', pattern: '^b$' }));
    expect(validateConfiguration(anchored, { a: 'abc' }).ok).toBe(false);
    expect(validateConfiguration(anchored, { a: 'b' }).ok).toBe(true);
  });

  it('gives the same answer on repeated calls (no regex state kept between values)', () => {
    const schema = parse(withField({ type: 'string', pattern: '^a' }));
    for (let i = 0; i < 3; i++) expect(validateConfiguration(schema, { a: 'abc' }).ok).toBe(true);
  });

  it('checks arrays: items, minItems, maxItems (100 by default), with the index in the path', () => {
    const schema = parse(
      withField({ type: 'array', items: { type: 'string', enum: ['x', 'y'] }, minItems: 1, maxItems: 2 }),
    );
    expect(validateConfiguration(schema, { a: ['x', 'y'] })).toEqual({ ok: true, value: { a: ['x', 'y'] } });
    expect(validateConfiguration(schema, { a: [] })).toEqual({
      ok: false,
      errors: [{ path: 'configuration.a', message: 'Must have at least 1 items' }],
    });
    expect(validateConfiguration(schema, { a: ['x', 'y', 'x'] })).toEqual({
      ok: false,
      errors: [{ path: 'configuration.a', message: 'Must have at most 2 items' }],
    });
    expect(validateConfiguration(schema, { a: ['x', 'z'] })).toEqual({
      ok: false,
      errors: [{ path: 'configuration.a.1', message: 'Must be one of: "x", "y"' }],
    });
    const unbounded = parse(withField({ type: 'array', items: { type: 'boolean' } }));
    expect(validateConfiguration(unbounded, { a: Array(100).fill(true) }).ok).toBe(true);
    expect(validateConfiguration(unbounded, { a: Array(101).fill(true) })).toEqual({
      ok: false,
      errors: [{ path: 'configuration.a', message: `Must have at most ${LIMITS.maxItems} items` }],
    });
  });

  it('returns only declared keys, in copies that do not alias the schema or the input', () => {
    const schema = parse(withField({ type: 'array', items: { type: 'integer' }, default: [1] }));
    const first = validateConfiguration(schema, {});
    if (!first.ok) throw new Error('expected ok');
    (first.value.a as number[]).push(2);
    expect(validateConfiguration(schema, {})).toEqual({ ok: true, value: { a: [1] } });
    const input = { a: [3] };
    const second = validateConfiguration(schema, input);
    if (!second.ok) throw new Error('expected ok');
    expect(second.value.a).not.toBe(input.a);
  });
});

describe('secrets', () => {
  const schema = parse({
    type: 'object',
    properties: {
      name: { type: 'string' },
      api_key: { type: 'string', secret: true },
      webhook_secret: { type: 'string', secret: true },
      theme: { type: 'string', enum: ['light', 'dark'], default: 'light' },
    },
  });

  it('lists the secret keys in declaration order', () => {
    expect(secretKeys(schema)).toEqual(['api_key', 'webhook_secret']);
    expect(secretKeys(parse(markdownEditor))).toEqual([]);
  });

  it('masks every set secret field and leaves absent ones absent', () => {
    const value = { name: 'n', api_key: 'sk_live_123', theme: 'dark' };
    const masked = maskConfiguration(schema, value);
    expect(masked).toEqual({ name: 'n', api_key: MASK, theme: 'dark' });
    expect('webhook_secret' in masked).toBe(false);
    expect(value.api_key).toBe('sk_live_123'); // a copy
    expect(maskConfiguration(schema, { api_key: '' })).toEqual({ api_key: MASK });
  });

  it('splits plain values from the secrets to encrypt', () => {
    expect(splitSecrets(schema, { name: 'n', api_key: 'k', theme: 'light' })).toEqual({
      plain: { name: 'n', theme: 'light' },
      secrets: { api_key: 'k' },
    });
  });

  describe('mergeConfiguration (RFC 7386 at the top level)', () => {
    const current = { name: 'n', api_key: 'k1', webhook_secret: 'w1', theme: 'dark' };

    it('replaces values, and removes a key sent as null so its default applies again', () => {
      const merged = mergeConfiguration(schema, current, { name: 'm', theme: null });
      expect(merged).toEqual({ name: 'm', api_key: 'k1', webhook_secret: 'w1' });
      expect(validateConfiguration(schema, merged)).toEqual({
        ok: true,
        value: { name: 'm', api_key: 'k1', webhook_secret: 'w1', theme: 'light' },
      });
    });

    it('keeps a secret sent back as the mask, and replaces or removes it otherwise', () => {
      expect(mergeConfiguration(schema, current, { api_key: MASK, webhook_secret: 'w2' })).toEqual({
        ...current,
        webhook_secret: 'w2',
      });
      expect(mergeConfiguration(schema, current, { api_key: null })).toEqual({
        name: 'n',
        webhook_secret: 'w1',
        theme: 'dark',
      });
    });

    it('leaves an absent secret absent when sent the mask', () => {
      expect(mergeConfiguration(schema, { name: 'n' }, { api_key: MASK })).toEqual({ name: 'n' });
    });

    it('takes the mask literally on a field that is not secret', () => {
      expect(mergeConfiguration(schema, current, { name: MASK }).name).toBe(MASK);
    });

    it('carries unknown keys over so that validation reports them', () => {
      const merged = mergeConfiguration(schema, current, { colour: 'red' });
      const result = validateConfiguration(schema, merged);
      expect(result.ok === false && result.errors).toEqual([
        { path: 'configuration.colour', message: 'Unknown setting' },
      ]);
    });

    it('changes neither the current value nor the patch', () => {
      const before = structuredClone(current);
      const patch = { name: null, api_key: MASK };
      mergeConfiguration(schema, current, patch);
      expect(current).toEqual(before);
      expect(patch).toEqual({ name: null, api_key: MASK });
    });

    it('restores the stored value when a client sends back what it read', () => {
      expect(mergeConfiguration(schema, current, maskConfiguration(schema, current))).toEqual(current);
    });
  });
});

describe('revalidate (version upgrade)', () => {
  const v1 = parse({
    type: 'object',
    properties: {
      toolbar: { type: 'string', enum: ['basic', 'full', 'mini'], default: 'basic' },
      legacy: { type: 'boolean' },
    },
  });

  it('drops keys the new schema no longer declares, silently, and applies new defaults', () => {
    const v2 = parse({
      type: 'object',
      properties: {
        toolbar: { type: 'string', enum: ['basic', 'full', 'mini'], default: 'basic' },
        theme: { type: 'string', enum: ['light', 'dark'], default: 'light' },
      },
    });
    const previous = validateConfiguration(v1, { toolbar: 'full', legacy: true });
    if (!previous.ok) throw new Error('expected ok');
    expect(revalidate(v2, previous.value)).toEqual({
      ok: true,
      value: { toolbar: 'full', theme: 'light' },
      dropped: ['legacy'],
    });
  });

  it('reports a value no longer in the enum and a new required field without default', () => {
    const v2 = parse({
      type: 'object',
      properties: {
        toolbar: { type: 'string', enum: ['basic', 'full'], default: 'basic' },
        endpoint: { type: 'string' },
      },
      required: ['endpoint'],
    });
    expect(revalidate(v2, { toolbar: 'mini' }, 'installation.configuration')).toEqual({
      ok: false,
      errors: [
        { path: 'installation.configuration.toolbar', message: 'Must be one of: "basic", "full"' },
        { path: 'installation.configuration.endpoint', message: 'Required' },
      ],
      dropped: [],
    });
  });

  it('reports a previous value that is not an object', () => {
    expect(revalidate(v1, 'corrupt')).toEqual({
      ok: false,
      errors: [{ path: 'configuration', message: 'Expected a JSON object, received string' }],
      dropped: [],
    });
  });
});

describe('properties', () => {
  const key = fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9_]{0,10}$/);

  /** A schema of enum fields (strings or integers), each optionally with a default taken from its enum. */
  const enumSchema = fc
    .dictionary(
      key,
      fc.oneof(
        fc.uniqueArray(fc.string({ maxLength: 20 }), { minLength: 1, maxLength: 5 }).chain((values) =>
          fc.record(
            {
              type: fc.constant('string' as const),
              enum: fc.constant(values),
              default: fc.constantFrom(...values),
            },
            { requiredKeys: ['type', 'enum'] },
          ),
        ),
        fc.uniqueArray(fc.integer(), { minLength: 1, maxLength: 5 }).chain((values) =>
          fc.record(
            {
              type: fc.constant('integer' as const),
              enum: fc.constant(values),
              default: fc.constantFrom(...values),
            },
            { requiredKeys: ['type', 'enum'] },
          ),
        ),
      ),
      { maxKeys: 8 },
    )
    .map((properties) => parse({ type: 'object', properties, required: Object.keys(properties) }));

  it('accepts any configuration built from the enums and defaults of a schema', () => {
    fc.assert(
      fc.property(
        enumSchema.chain((schema) =>
          fc.tuple(
            fc.constant(schema),
            fc.record(
              Object.fromEntries(
                Object.entries(schema.properties).map(([k, f]) => [
                  k,
                  // Absent (when there is a default) or one of the enum values.
                  f.default !== undefined
                    ? fc.option(fc.constantFrom(...(f.enum as unknown[])), { nil: undefined })
                    : fc.constantFrom(...(f.enum as unknown[])),
                ]),
              ),
            ),
          ),
        ),
        ([schema, input]) => {
          const result = validateConfiguration(schema, input);
          expect(result.ok).toBe(true);
          if (!result.ok) return;
          for (const [k, f] of Object.entries(schema.properties)) {
            expect(result.value[k]).toEqual(input[k] === undefined ? f.default : input[k]);
          }
        },
      ),
    );
  });

  it('never throws on an arbitrary schema, and a schema it accepts validates its own defaults', () => {
    const keyword = fc.constantFrom(
      'type',
      'title',
      'description',
      'default',
      'enum',
      'minimum',
      'maximum',
      'minLength',
      'maxLength',
      'pattern',
      'items',
      'minItems',
      'maxItems',
      'secret',
    );
    const plausible = fc.oneof(
      fc.constantFrom(
        'string',
        'integer',
        'number',
        'boolean',
        'array',
        true,
        0,
        3,
        10_001,
        -1,
        '(a+)+',
        '^x',
      ),
      fc.jsonValue({ maxDepth: 2 }),
    );
    const fieldArb = fc.dictionary(keyword, plausible, { maxKeys: 6 });
    const schemaArb = fc.record({
      type: fc.constant('object'),
      properties: fc.dictionary(
        fc.constantFrom('a', 'b', 'c'),
        fc.oneof(fieldArb, fc.jsonValue({ maxDepth: 1 })),
      ),
      required: fc.array(fc.constantFrom('a', 'b', 'x')),
    });
    fc.assert(
      fc.property(schemaArb, (raw) => {
        const result = check(configSchema, raw);
        if (!result.success) return;
        const validated = validateConfiguration(result.data, {});
        if (!validated.ok) {
          for (const e of validated.errors) expect(e.message).toBe('Required');
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws, and answers in the documented shape, for arbitrary JSON input', () => {
    const schemas = [
      parse(markdownEditor),
      parse({
        type: 'object',
        properties: {
          n: { type: 'number', minimum: 0 },
          i: { type: 'integer', default: 1 },
          s: { type: 'string', pattern: '^[a-z]+$', maxLength: 10 },
          b: { type: 'boolean' },
          l: { type: 'array', items: { type: 'string' }, maxItems: 3 },
          k: { type: 'string', secret: true },
        },
        required: ['b'],
      }),
    ];
    const keys = fc.constantFrom(
      'toolbar',
      'theme',
      'n',
      'i',
      's',
      'b',
      'l',
      'k',
      'x',
      '__proto__',
      'toString',
    );
    const input = fc.oneof(fc.jsonValue(), fc.dictionary(keys, fc.jsonValue()));
    fc.assert(
      fc.property(fc.constantFrom(...schemas), input, (schema, value) => {
        const result = validateConfiguration(schema, value, 'body.configuration');
        if (result.ok) {
          for (const k of Object.keys(result.value)) expect(Object.hasOwn(schema.properties, k)).toBe(true);
          expect(validateConfiguration(schema, result.value)).toEqual(result); // valid output is a fixpoint
        } else {
          expect(result.errors.length).toBeGreaterThan(0);
          const paths = result.errors.map((e) => e.path);
          expect(new Set(paths).size).toBe(paths.length); // one error per field
          for (const e of result.errors) expect(e.path.startsWith('body.configuration')).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('never leaks a secret value through masking or error messages', () => {
    const schema = parse({
      type: 'object',
      properties: {
        api_key: { type: 'string', secret: true, pattern: '^sk_', maxLength: 64 },
        name: { type: 'string' },
      },
    });
    const secret = fc.string({ minLength: 12, maxLength: 80 }).filter((s) => !s.startsWith('sk_'));
    fc.assert(
      fc.property(secret, fc.string(), (s, name) => {
        const masked = maskConfiguration(schema, { api_key: s, name });
        expect(masked.api_key).toBe(MASK);
        expect(masked.name).toBe(name);
        const result = validateConfiguration(schema, { api_key: s, name });
        expect(result.ok).toBe(false);
        expect(JSON.stringify(result)).not.toContain(JSON.stringify(s).slice(1, -1));
        const { plain } = splitSecrets(schema, { api_key: s, name });
        expect(Object.values(plain)).not.toContain(s === name ? Symbol() : s);
      }),
    );
  });
});
