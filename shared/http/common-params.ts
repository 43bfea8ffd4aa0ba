/**
 * Path parameters and responses that route rows of several features share (feature-neutral:
 * platform code, like the rest of shared/http).
 */
import * as z from 'zod';
import { problemSchema } from './problem.ts';
import type { ResponseDef } from './route.ts';

/** `{id}` path parameter of most resources. */
export const idParams = z.object({ id: z.string().min(1).max(100) });
/** `{id}` and `{delivery_id}` path parameters. */
export const deliveryParams = z.object({
  id: z.string().min(1).max(100),
  delivery_id: z.string().min(1).max(100),
});
/** Responses of a route that is registered but not built yet. */
export const pending = {
  501: { description: 'Not implemented yet', schema: problemSchema },
} satisfies Record<number, ResponseDef>;

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
