import { QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import * as v from 'valibot';
import { ValidationError } from '#shared/errors.ts';
import { check, record } from '#shared/validation.ts';
import { db, tableName } from './client.ts';

export type { Page, PageQuery } from '#shared/http/common-params.ts';

/** A DynamoDB key as the lists use it: every key attribute of the table is a string. */
export type Key = Record<string, string>;

/**
 * What one key attribute of a list's position must be: exactly a value (the partition), begin
 * with a prefix (`begins_with` sort-key conditions), lie in an inclusive range (`BETWEEN`), or
 * (for positions a list computes itself rather than a DynamoDB key) match a pattern.
 */
export type KeyRule =
  | string
  | { prefix: string }
  | { between: readonly [string, string] }
  | { pattern: RegExp };

/**
 * The positions a list can be at: which list it is and, for every attribute of the
 * `LastEvaluatedKey` its Query returns (the table's `pk`/`sk`, plus the index keys on an index),
 * the rule its value meets. Built per request from the same values as the key condition, so a
 * cursor is checked against exactly the range this query reads.
 */
export interface CursorScope {
  list: string;
  key: Record<string, KeyRule>;
}

const CURSOR_VERSION = 1;
const payload = v.strictObject({
  v: v.literal(CURSOR_VERSION),
  l: v.string(),
  k: record(v.string(), v.string()),
});

/** DynamoDB's key size limits (bytes, UTF-8): a longer value is no position of any list. */
const MAX_KEY_BYTES = { partition: 2048, sort: 1024 } as const;

function meets(value: string, rule: KeyRule): boolean {
  if (
    Buffer.byteLength(value, 'utf8') >
    (typeof rule === 'string' ? MAX_KEY_BYTES.partition : MAX_KEY_BYTES.sort)
  ) {
    return false;
  }
  if (typeof rule === 'string') return value === rule;
  if ('prefix' in rule) return value.startsWith(rule.prefix) && value.length > rule.prefix.length;
  if ('pattern' in rule) return rule.pattern.test(value);
  return value >= rule.between[0] && value <= rule.between[1];
}

function invalidCursor(): never {
  throw new ValidationError(
    'The cursor is not valid for this list: pass back a next_cursor this list returned.',
    [{ path: 'query.cursor', message: 'Invalid cursor' }],
  );
}

/**
 * The one cursor codec of every list. `encode` turns a Query's `LastEvaluatedKey` into an opaque,
 * versioned cursor tagged with the list; `decode` accepts only a cursor that names this list and
 * whose key has exactly the attributes of the scope, each meeting its rule (the caller's partition
 * and range). Anything else — not base64url JSON, another list's cursor, a missing or extra key,
 * a value of another partition or outside the range, a non-string — is a 400, so no crafted
 * cursor ever reaches DynamoDB (which would answer a ValidationException, i.e. a 500) or reads
 * outside what the caller may list.
 */
export function listCursor(scope: CursorScope) {
  const attributes = Object.keys(scope.key).sort();
  return {
    encode(last: Record<string, unknown> | undefined): string | null {
      if (!last) return null;
      return Buffer.from(JSON.stringify({ v: CURSOR_VERSION, l: scope.list, k: last })).toString('base64url');
    },
    decode(cursor: string | undefined): Key | undefined {
      if (!cursor) return undefined;
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
      } catch {
        invalidCursor();
      }
      const shape = check(payload, parsed);
      if (!shape.success || shape.data.l !== scope.list) invalidCursor();
      const key = shape.data.k;
      const names = Object.keys(key).sort();
      const sameAttributes = names.length === attributes.length && names.every((n, i) => n === attributes[i]);
      if (!sameAttributes || !names.every((n) => meets(key[n] as string, scope.key[n] as KeyRule))) {
        invalidCursor();
      }
      return key;
    },
  };
}

/**
 * One page of a list, the one paging loop of every API list. A Query with a `FilterExpression`
 * may return fewer items than it read (DynamoDB filters after `Limit`), so this reads on — each
 * read asking only for what is still missing, at most `maxReads` reads — until the page holds
 * `limit` items or the range ends; the cursor is then exactly after the last item evaluated, so
 * the next page neither skips nor repeats one. The cursor is checked and issued by `scope`.
 */
export async function queryPage(
  input: Omit<QueryCommandInput, 'TableName' | 'Limit' | 'ExclusiveStartKey'>,
  opts: { scope: CursorScope; limit: number; cursor?: string; maxReads?: number },
): Promise<{ items: Record<string, unknown>[]; next_cursor: string | null }> {
  const codec = listCursor(opts.scope);
  let start: Record<string, unknown> | undefined = codec.decode(opts.cursor);
  const items: Record<string, unknown>[] = [];
  for (let read = 0; read < (opts.maxReads ?? 10) && items.length < opts.limit; read++) {
    const out = await db().send(
      new QueryCommand({
        ...input,
        TableName: tableName(),
        Limit: opts.limit - items.length,
        ExclusiveStartKey: start,
      }),
    );
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
    if (!start) break;
  }
  return { items, next_cursor: codec.encode(start) };
}
