/**
 * Leases: one writer at a time on an item (a delivery attempt, an OAuth refresh). The holder is
 * named by an attribute of the item's own (`lease_id`, `lease_owner`) and `lease_until` is the
 * lease's end in epoch **milliseconds** on every item, so a lease taken by one feature reads the
 * same in every other place (the sweeper, the reconciler).
 */

/** A condition that holds when no unexpired lease is on the item (uses `:leaseNow`). */
export const LEASE_FREE = '(attribute_not_exists(lease_until) OR lease_until < :leaseNow)';

const ms = (at: Date | number) => (typeof at === 'number' ? at : at.getTime());

/** The values {@link LEASE_FREE} and a new lease of `durationMs` (`:leaseUntil`) need. */
export function leaseValues(now: Date | number, durationMs?: number): Record<string, number> {
  const nowMs = ms(now);
  return { ':leaseNow': nowMs, ...(durationMs === undefined ? {} : { ':leaseUntil': nowMs + durationMs }) };
}

/** True while a lease ending at `until` (epoch ms) is held at `now`. */
export function leaseHeld(until: number | undefined, now: Date | number): boolean {
  return (until ?? 0) >= ms(now);
}

/** Whole seconds until a lease ending at `until` is over (at least 1). */
export function secondsLeft(until: number | undefined, now: Date | number): number {
  return Math.max(1, Math.ceil(((until ?? 0) - ms(now)) / 1000));
}
