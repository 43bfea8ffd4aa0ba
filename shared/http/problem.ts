import * as z from 'zod';
import type { FieldError } from '#shared/errors.ts';

/** RFC 9457 problem details, the body of every error response. */
export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional(),
    request_id: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .catchall(z.unknown());

export type Problem = z.infer<typeof problemSchema>;

export const PROBLEM_TYPE_BASE = 'https://docs.pronaflow.com/integration/problems/';

export function problem(input: {
  status: number;
  code: string;
  title: string;
  detail: string;
  instance?: string;
  requestId?: string;
  errors?: FieldError[];
  extra?: Record<string, unknown>;
}): Problem {
  return {
    type: `${PROBLEM_TYPE_BASE}${input.code}`,
    title: input.title,
    status: input.status,
    detail: input.detail,
    ...(input.instance ? { instance: input.instance } : {}),
    ...(input.requestId ? { request_id: input.requestId } : {}),
    ...(input.errors?.length ? { errors: input.errors } : {}),
    ...input.extra,
  };
}
