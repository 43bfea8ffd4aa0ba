/**
 * The plugins feature's counters of the status view (shared/counters.ts): `installations` of the
 * workspace by status (ACTIVE, UPGRADE_PENDING, FAILED, DISABLED), changed in the transaction of
 * each installation write (install, configuration, upgrade, the rollout, uninstall and the
 * deleted plugin's cascade), whose revision or existence condition makes it count once.
 */
import type { CounterChange } from '#shared/counters.ts';

/** An installation in `status` enters (`+1`) or leaves (`-1`) the count. */
export function installationCount(status: string, delta: 1 | -1): CounterChange {
  return { feature: 'plugins', counter: 'installations', status, delta };
}

/** The changes of an installation write from `before` to `after` (none when the status stays). */
export function installationMove(
  before: { status: string } | null,
  after: { status: string } | null,
): CounterChange[] {
  if (before?.status === after?.status) return [];
  return [
    ...(before ? [installationCount(before.status, -1)] : []),
    ...(after ? [installationCount(after.status, 1)] : []),
  ];
}
