import * as v from 'valibot';
import type { FieldError } from '#shared/errors.ts';
import { int } from '#shared/validation.ts';

/**
 * At most this many field errors are listed (the rest are counted in `errors_omitted`), each path
 * and message cut to {@link MAX_PROBLEM_TEXT} characters: a body full of mistakes gets a small answer.
 */
export const MAX_PROBLEM_ERRORS = 20;
export const MAX_PROBLEM_TEXT = 300;

/** RFC 9457 problem details, the body of every error response. */
export const problemEntries = {
  type: v.string(),
  title: v.string(),
  status: int(),
  detail: v.string(),
  instance: v.optional(v.string()),
  request_id: v.optional(v.string()),
  errors: v.optional(v.array(v.object({ path: v.string(), message: v.string() }))),
  errors_omitted: v.optional(
    v.pipe(
      int(),
      v.description(`How many more field errors there were beyond the first ${MAX_PROBLEM_ERRORS} listed`),
    ),
  ),
};
export const problemSchema = v.objectWithRest(problemEntries, v.unknown());

export type Problem = v.InferOutput<typeof problemSchema>;

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
