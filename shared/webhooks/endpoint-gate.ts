/**
 * Per-endpoint concurrency of the delivery worker (in the manner of Hookdeck's per-destination
 * concurrency and Svix's per-endpoint throttling), in this process: each endpoint has a limit of
 * attempts in flight that adapts to how it answers (AIMD): it starts at {@link INITIAL_LIMIT},
 * grows by one per attempt answered within {@link SLOW_ATTEMPT_MS}, and halves (down to 1) when
 * an attempt takes longer or times out. A job of an endpoint at its limit waits for a slot, but
 * only while the endpoint's attempts in flight are young: once one of them has run for
 * {@link SLOW_ATTEMPT_MS} (the endpoint hangs or is slow), the job is put back on the queue at
 * once, so a hanging endpoint holds at most its limit of attempts (and of batches) and the other
 * endpoints' jobs are not held behind it.
 */

/** Attempts in flight an endpoint starts with (per process). */
export const INITIAL_LIMIT = 2;
/** The most attempts in flight to one endpoint (per process). */
export const MAX_LIMIT = 32;
/** An attempt slower than this (or timed out) makes the endpoint slow: its limit halves. */
export const SLOW_ATTEMPT_MS = 1000;
/** How long a job waits for a slot of an endpoint whose attempts are young before being put back. */
export const MAX_SLOT_WAIT_MS = 250;
/** An endpoint's state is forgotten after this long without attempts. */
const IDLE_MS = 10 * 60_000;

interface EndpointState {
  limit: number;
  /** Start times (performance.now()) of the attempts in flight. */
  inFlight: Set<number>;
  waiters: (() => void)[];
  lastUsed: number;
}

const states = new Map<string, EndpointState>();
let nextToken = 0;

function stateOf(endpointId: string, now: number): EndpointState {
  let s = states.get(endpointId);
  if (!s) {
    if (states.size > 1000) {
      for (const [id, st] of states) if (!st.inFlight.size && now - st.lastUsed > IDLE_MS) states.delete(id);
    }
    s = { limit: INITIAL_LIMIT, inFlight: new Set(), waiters: [], lastUsed: now };
    states.set(endpointId, s);
  }
  s.lastUsed = now;
  return s;
}

/** A slot of an endpoint: call `done` with how the attempt went. */
export interface Slot {
  /** Gives the slot back; with the attempt's duration and whether it timed out, adapts the limit. */
  done: (outcome?: { durationMs: number; timedOut: boolean }) => void;
}

const starts = new Map<number, number>();

function oldestInFlightMs(s: EndpointState, now: number): number {
  let oldest = 0;
  for (const t of s.inFlight) oldest = Math.max(oldest, now - (starts.get(t) ?? now));
  return oldest;
}

/**
 * Takes a slot of `endpointId`, waiting while its attempts in flight are young (at most
 * {@link MAX_SLOT_WAIT_MS}); undefined when the endpoint stays at its limit (put the job back).
 */
export async function acquireSlot(endpointId: string): Promise<Slot | undefined> {
  const startedWaiting = performance.now();
  const s = stateOf(endpointId, startedWaiting);
  for (;;) {
    const now = performance.now();
    if (s.inFlight.size < s.limit) break;
    if (oldestInFlightMs(s, now) >= SLOW_ATTEMPT_MS || now - startedWaiting >= MAX_SLOT_WAIT_MS)
      return undefined;
    // Woken by a slot coming free, or after a short while to look at the attempts' ages again.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        s.waiters = s.waiters.filter((w) => w !== wake);
        resolve();
      }, 100);
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      s.waiters.push(wake);
    });
  }
  const token = nextToken++;
  starts.set(token, performance.now());
  s.inFlight.add(token);
  let released = false;
  return {
    done: (outcome) => {
      if (released) return;
      released = true;
      s.inFlight.delete(token);
      starts.delete(token);
      s.lastUsed = performance.now();
      if (outcome) {
        if (outcome.timedOut || outcome.durationMs >= SLOW_ATTEMPT_MS)
          s.limit = Math.max(1, Math.floor(s.limit / 2));
        else s.limit = Math.min(MAX_LIMIT, s.limit + 1);
      }
      const waiters = s.waiters;
      s.waiters = [];
      for (const wake of waiters) wake();
    },
  };
}

/** The endpoint's current limit and attempts in flight (tests, the bench). */
export function gateState(endpointId: string): { limit: number; inFlight: number } | undefined {
  const s = states.get(endpointId);
  return s && { limit: s.limit, inFlight: s.inFlight.size };
}

/** Forgets every endpoint's state (tests). */
export function resetGate(): void {
  states.clear();
  starts.clear();
}
