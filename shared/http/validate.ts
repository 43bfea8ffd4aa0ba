import { ValidationError } from '#shared/errors.ts';
import { check, type Output, type Schema } from '#shared/validation.ts';

/** Parses `value` with `schema`; on failure a 400 listing each bad field under `where`. */
export function parseInput<S extends Schema>(schema: S, value: unknown, where: string): Output<S> {
  const result = check(schema, value);
  if (result.success) return result.data;
  const errors = result.issues.map((issue) => ({
    path: [where, ...issue.path.map(String)].join('.'),
    message: issue.message,
  }));
  throw new ValidationError(`The request ${where} is not valid.`, errors);
}
