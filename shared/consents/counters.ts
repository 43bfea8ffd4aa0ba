/**
 * The consents feature's counters of the status view (shared/counters.ts): the workspace's
 * consent records by stored state (`records`: GRANTED, REVOKED, EXPIRED), changed in the
 * transaction of each transition (grant, revoke, the expiry worker's mark), which is conditional
 * on the record's state, so it counts once. A GRANTED record whose end date passed counts as
 * GRANTED until the expiry worker marks it (every 15 minutes); OUTDATED (an older policy
 * version) is a reading, not a state, and is not counted.
 */
import type { CounterChange } from '#shared/counters.ts';

/** A record in `state` enters (`+1`) or leaves (`-1`) the count. */
export function consentCount(state: 'GRANTED' | 'REVOKED' | 'EXPIRED', delta: 1 | -1): CounterChange {
  return { feature: 'consents', counter: 'records', status: state, delta };
}
