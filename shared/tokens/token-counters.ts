/**
 * The tokens feature's counters of the status view (shared/counters.ts): `active`, the tokens that
 * are switched on and not revoked, by the day they expire, so the view shows those not expired
 * yet (`active`) and those expiring within 7 days (`expiring_7d`) without any write at expiry.
 * Changed in the transaction of each transition (create, revoke, rotate, switch on or off, the
 * membership consumer's deactivation), whose version condition makes it count once.
 */
import type { CounterChange } from '#shared/counters.ts';

/** A token switched on and not revoked, expiring at `expiresAt`, enters (`+1`) or leaves (`-1`) the count. */
export function activeToken(expiresAt: string, delta: 1 | -1): CounterChange {
  return {
    feature: 'tokens',
    counter: 'active',
    delta,
    until: { at: expiresAt, soon: 'expiring_7d', days: 7 },
  };
}
