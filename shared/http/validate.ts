import type * as z from 'zod';
import { ValidationError } from '#shared/errors.ts';

/** Parses `value` with `schema`; on failure a 400 listing each bad field under `where`. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const errors = result.error.issues.map((issue) => ({
    path: [where, ...issue.path.map(String)].join('.'),
    message: issue.message,
  }));
  throw new ValidationError(`The request ${where} is not valid.`, errors);
}
