/** How an endpoint retries failed attempts. */
export type RetryPolicy = 'EXPONENTIAL' | 'LINEAR' | 'NONE';

export interface RetrySettings {
  maxRetries: number;
  baseSeconds: number;
}

/**
 * Seconds to wait before retry number `retryIndex` (0 = the first retry), or undefined when the
 * policy allows no more retries. EXPONENTIAL = base × 2^n × a jitter factor in [0.8, 1.2)
 * (`random` in [0, 1)); LINEAR = base × (n + 1); NONE = never.
 */
export function backoffSeconds(
  policy: RetryPolicy,
  retryIndex: number,
  settings: RetrySettings,
  random: () => number = Math.random,
): number | undefined {
  if (policy === 'NONE' || retryIndex >= settings.maxRetries) return undefined;
  if (policy === 'LINEAR') return settings.baseSeconds * (retryIndex + 1);
  return Math.round(settings.baseSeconds * 2 ** retryIndex * (0.8 + 0.4 * random()));
}

/**
 * The delay a `Retry-After` header asks for, in seconds (delta-seconds or an HTTP date), or
 * undefined when absent or unreadable.
 */
export function retryAfterSeconds(value: string | undefined, now: Date): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now.getTime()) / 1000));
}

/** What to do after an attempt. */
export type AttemptDecision =
  | { kind: 'delivered' }
  | { kind: 'retry'; delaySeconds: number }
  | {
      kind: 'failed';
      reason: string;
      /** Disables the endpoint with this reason (410). */
      disableEndpoint?: string;
      /** Parks the delivery in the DLQ (retries used up: a redrive may succeed later). */
      deadLetter: boolean;
    };

/**
 * Decides the outcome of an attempt: 2xx delivers; 410 fails and disables the endpoint; a target
 * refused at delivery time (`refused`: URL shape or address range) fails at once, without
 * retries or DLQ (nothing changes by retrying); other answers and transport errors (DNS failures
 * included) retry per the policy, waiting what `Retry-After` asks on 429 and 503 (never less than
 * the policy's own backoff), until the retries are used up (then FAILED and parked in the DLQ).
 */
export function decide(input: {
  status?: number;
  retryAfter?: string;
  error?: string;
  /** Why the target was refused at delivery time (no request was made). */
  refused?: string;
  policy: RetryPolicy;
  /** Attempts made so far in this cycle, including the one just made. */
  attemptsMade: number;
  settings: RetrySettings;
  now: Date;
  random?: () => number;
}): AttemptDecision {
  const { status } = input;
  if (input.refused) return { kind: 'failed', reason: input.refused, deadLetter: false };
  if (status !== undefined && status >= 200 && status < 300) return { kind: 'delivered' };
  if (status === 410) {
    return {
      kind: 'failed',
      reason: 'The endpoint answered 410 Gone',
      disableEndpoint: 'The endpoint answered 410 Gone',
      deadLetter: false,
    };
  }
  const backoff = backoffSeconds(input.policy, input.attemptsMade - 1, input.settings, input.random);
  const what = status !== undefined ? `HTTP ${status}` : (input.error ?? 'no response');
  if (backoff === undefined) {
    const reason =
      input.policy === 'NONE'
        ? `${what}; the retry policy is NONE`
        : `${what} after ${input.attemptsMade} attempts`;
    return { kind: 'failed', reason, deadLetter: true };
  }
  if (status === 429 || status === 503) {
    const asked = retryAfterSeconds(input.retryAfter, input.now);
    if (asked !== undefined) return { kind: 'retry', delaySeconds: Math.max(asked, backoff) };
  }
  return { kind: 'retry', delaySeconds: backoff };
}
