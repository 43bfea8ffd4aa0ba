/**
 * Path parameters and responses that route rows of several features share (feature-neutral:
 * platform code, like the rest of shared/http).
 */
import * as v from 'valibot';
import { coerceNumber, int } from '#shared/validation.ts';
import { problemSchema } from './problem.ts';
import type { ResponseDef } from './route.ts';

/** `{id}` path parameter of most resources. */
export const idParams = v.object({ id: v.pipe(v.string(), v.minLength(1), v.maxLength(100)) });
/** `{id}` and `{delivery_id}` path parameters. */
export const deliveryParams = v.object({
  id: v.pipe(v.string(), v.minLength(1), v.maxLength(100)),
  delivery_id: v.pipe(v.string(), v.minLength(1), v.maxLength(100)),
});
/** Responses of a route that is registered but not built yet. */
export const pending = {
  501: { description: 'Not implemented yet', schema: problemSchema },
} satisfies Record<number, ResponseDef>;

/** Query-string schema shared by every list endpoint. */
export const pageQuery = v.object({
  limit: v.optional(v.pipe(coerceNumber(), int(), v.minValue(1), v.maxValue(100)), 20),
  cursor: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(2048))),
});
export type PageQuery = v.InferOutput<typeof pageQuery>;

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}
