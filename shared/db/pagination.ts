import * as z from 'zod';
import { ValidationError } from '#shared/errors.ts';

/** Query-string schema shared by every list endpoint. */
export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(2048).optional(),
});
export type PageQuery = z.infer<typeof pageQuery>;

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

type Key = Record<string, string | number>;

/** Opaque cursor from a DynamoDB LastEvaluatedKey (base64url JSON). */
export function encodeCursor(key: Record<string, unknown> | undefined): string | null {
  return key ? Buffer.from(JSON.stringify(key)).toString('base64url') : null;
}

/**
 * Decodes a cursor and checks it belongs to the partition being queried (`expect`), so a
 * crafted cursor can never read another tenant's items. Bad cursors are a 400.
 */
export function decodeCursor(cursor: string | undefined, expect: Key): Key | undefined {
  if (!cursor) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const shape = z.record(z.string(), z.union([z.string(), z.number()])).safeParse(parsed);
  const ok = shape.success && Object.entries(expect).every(([k, v]) => shape.data[k] === v);
  if (!ok || !shape.success) {
    throw new ValidationError('The cursor is not valid for this list.', [
      { path: 'query.cursor', message: 'Invalid cursor' },
    ]);
  }
  return shape.data;
}
