import * as z from 'zod';
import type { FieldError } from '#shared/errors.ts';

/**
 * At most this many field errors are listed (the rest are counted in `errors_omitted`), each path
 * and message cut to {@link MAX_PROBLEM_TEXT} characters: a body full of mistakes gets a small answer.
 */
export const MAX_PROBLEM_ERRORS = 20;
export const MAX_PROBLEM_TEXT = 300;

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
    errors_omitted: z
      .number()
      .int()
      .optional()
      .describe(`How many more field errors there were beyond the first ${MAX_PROBLEM_ERRORS} listed`),
  })
  .catchall(z.unknown());

export type Problem = z.infer<typeof problemSchema>;

/**
 * Where problem `type` URIs live: a stable public address (the same in every stage, so clients may
 * compare types), which proxies to this service's `GET /v1/integration/problems/<name>`; every
 * name is in problem-catalog.ts.
 */
export const PROBLEM_TYPE_BASE = 'https://docs.pronaflow.com/integration/problems/';

/** The `type` URI of the problem named `code`. */
export const problemTypeUri = (code: string) => `${PROBLEM_TYPE_BASE}${code}`;

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
    type: problemTypeUri(input.code),
    title: input.title,
    status: input.status,
    detail: input.detail,
    ...(input.instance ? { instance: input.instance } : {}),
    ...(input.requestId ? { request_id: input.requestId } : {}),
    ...(input.errors?.length ? { errors: input.errors.slice(0, MAX_PROBLEM_ERRORS).map(cut) } : {}),
    ...(input.errors && input.errors.length > MAX_PROBLEM_ERRORS
      ? { errors_omitted: input.errors.length - MAX_PROBLEM_ERRORS }
      : {}),
    ...input.extra,
  };
}

const clip = (text: string) =>
  text.length > MAX_PROBLEM_TEXT ? `${text.slice(0, MAX_PROBLEM_TEXT - 1)}…` : text;
const cut = (e: FieldError): FieldError => ({ path: clip(e.path), message: clip(e.message) });
