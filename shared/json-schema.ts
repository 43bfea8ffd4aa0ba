/**
 * JSON Schema of the service's valibot schemas (@valibot/to-json-schema), worded as the OpenAPI
 * document has always been: see {@link jsonSchemaOf}.
 */
import { type OverrideSchemaContext, toJsonSchema } from '@valibot/to-json-schema';
import type { Schema } from './validation.ts';

type Json = Record<string, unknown>;

type Entry = { type: string; default?: unknown; fallback?: unknown; literal?: unknown };

/**
 * Per schema, what the document says beyond valibot's own conversion: an object's `required`
 * lists what the `io` side always has (an output always has a key with a default or fallback), a
 * plain object's output has no undeclared property, a loose object allows any other property, a
 * literal states its type, a fallback is the default.
 */
function adjust(io: 'input' | 'output') {
  return ({ valibotSchema, jsonSchema }: OverrideSchemaContext): Json | undefined => {
    const s = valibotSchema as unknown as Entry & { entries?: Record<string, Entry> };
    const json = jsonSchema as Json;
    if (s.entries && json.type === 'object') {
      if (io === 'output') {
        json.required = Object.keys(s.entries).filter((key) => {
          const e = s.entries?.[key] as Entry;
          const optional = e.type === 'optional' || e.type === 'exact_optional' || e.type === 'nullish';
          return !optional || e.default !== undefined || e.fallback !== undefined;
        });
        if (s.type === 'object') json.additionalProperties = false;
      }
      if (s.type === 'loose_object') json.additionalProperties = {};
      if (Array.isArray(json.required) && json.required.length === 0) delete json.required;
    }
    if (s.type === 'literal') {
      const t = typeof s.literal;
      if (t === 'string' || t === 'number' || t === 'boolean') json.type = t;
    }
    if (s.fallback !== undefined) json.default = typeof s.fallback === 'function' ? s.fallback() : s.fallback;
    return json;
  };
}

/** `anyOf` of bare types as a `type` list (`["string", "null"]`), as the document always spelled it. */
function compactTypeUnions(node: unknown): void {
  if (Array.isArray(node)) {
    for (const n of node) compactTypeUnions(n);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const json = node as Json;
  for (const value of Object.values(json)) compactTypeUnions(value);
  // An exclusive bound makes the safe-integer bound it is within say nothing.
  if (
    typeof json.exclusiveMinimum === 'number' &&
    typeof json.minimum === 'number' &&
    json.minimum <= json.exclusiveMinimum
  )
    delete json.minimum;
  if (
    typeof json.exclusiveMaximum === 'number' &&
    typeof json.maximum === 'number' &&
    json.maximum >= json.exclusiveMaximum
  )
    delete json.maximum;
  const options = json.anyOf;
  if (!Array.isArray(options) || options.length === 0 || json.type !== undefined) return;
  const types: string[] = [];
  for (const option of options as Json[]) {
    const keys = Object.keys(option ?? {});
    if (keys.length !== 1 || keys[0] !== 'type') return;
    for (const t of ([] as unknown[]).concat(option.type)) {
      if (typeof t !== 'string') return;
      if (!types.includes(t)) types.push(t);
    }
  }
  delete json.anyOf;
  json.type = types.length === 1 ? types[0] : types;
}

type Node = Record<string, unknown> & { kind?: string; type?: string; pipe?: Node[] };

/**
 * What a request may send, as the document has always said it: a pipe that hands its value on to
 * a second schema documents only what its first part takes (a coercion, `unknown` then a
 * transformation, documents the schema it coerces to). Returns a copy; `schema` is not changed.
 */
function inputSide(node: Node): Node {
  let out = node;
  const set = (key: string, value: unknown) => {
    if (out === node) out = { ...node };
    out[key] = value;
  };
  if (Array.isArray(node.pipe)) {
    const flat: Node[] = [];
    const flatten = (items: Node[]) => {
      for (const item of items) {
        if (Array.isArray(item.pipe)) flatten(item.pipe);
        else flat.push(item);
      }
    };
    flatten(node.pipe);
    const coercion = flat[0]?.type === 'unknown' && flat[1]?.kind === 'transformation';
    const second = coercion ? -1 : flat.findIndex((i, n) => n > 0 && i.kind === 'schema');
    const kept = second === -1 ? flat : flat.slice(0, second);
    set(
      'pipe',
      kept.map((i) => (i.kind === 'schema' ? inputSide(i) : i)),
    );
  }
  for (const key of ['item', 'wrapped', 'key', 'value', 'rest'] as const) {
    const child = node[key] as Node | undefined;
    if (child && typeof child === 'object' && child.kind === 'schema') set(key, inputSide(child));
  }
  if (node.entries && typeof node.entries === 'object') {
    set(
      'entries',
      Object.fromEntries(
        Object.entries(node.entries as Record<string, Node>).map(([k, e]) => [k, inputSide(e)]),
      ),
    );
  }
  if (
    Array.isArray(node.options) &&
    node.options.every((o) => o && typeof o === 'object' && (o as Node).kind === 'schema')
  ) {
    set('options', (node.options as Node[]).map(inputSide));
  }
  return out;
}

/** The JSON Schema (draft 2020-12) of what `schema` takes (`input`) or gives (`output`). */
export const jsonSchemaOf = (schema: Schema, io: 'input' | 'output'): Json => {
  const source = io === 'input' ? (inputSide(schema as unknown as Node) as unknown as Schema) : schema;
  const { $schema: _drop, ...rest } = toJsonSchema(source, {
    target: 'draft-2020-12',
    // Pipes are read whole (a coerced query parameter documents the number it must be), and
    // what JSON Schema cannot say (a transformation, a check in code) is left out, not refused.
    typeMode: 'ignore',
    errorMode: 'ignore',
    overrideSchema: adjust(io),
  }) as Json;
  compactTypeUnions(rest);
  return rest;
};
