import { config } from '#shared/config.ts';
import type { ConsentRequirementSource } from './requirements.ts';
import { CONSENT_TYPES, type ConsentStatus, type ConsentType } from './schemas.ts';
import { allConsents, type ConsentItem, statusOf } from './service.ts';

type TypeStatus = ConsentStatus | 'MISSING' | 'NONE';

/**
 * The compliance status of a user (or, with `userId` null, of the workspace): per consent type,
 * GRANTED when a consent of the type is live, else the state of the latest one (REVOKED, EXPIRED,
 * OUTDATED), MISSING when the type is required (below) and none is live, NONE otherwise; each
 * requirement of the sources with its status; `compliant` when every requirement is met and no
 * live consent predates the current policy version (those need renewing), with the reasons.
 */
export async function complianceStatus(
  workspaceId: string,
  userId: string | null,
  sources: readonly ConsentRequirementSource[],
  now = new Date(),
) {
  const records = await allConsents(workspaceId, userId);
  const required = (await Promise.all(sources.map((s) => s.requirements(workspaceId, userId)))).flat();
  const latest = (list: ConsentItem[]) => [...list].sort((a, b) => (a.granted_at < b.granted_at ? 1 : -1))[0];
  const reasons: string[] = [];

  const requiredStatus = required.map((r) => {
    const matching = records.filter(
      (c) =>
        c.consent_type === r.consent_type &&
        c.resource_type === r.resource_type &&
        c.resource_id === r.resource_id &&
        c.user_id === r.user_id,
    );
    const live = matching.find((c) => statusOf(c, now) === 'GRANTED');
    const last = latest(matching);
    const status: ConsentStatus | 'MISSING' = live ? 'GRANTED' : last ? statusOf(last, now) : 'MISSING';
    if (status !== 'GRANTED') {
      reasons.push(
        `${r.consent_type} consent for ${r.resource_type} ${r.resource_id} is ${status}: ${r.reason}`,
      );
    }
    return { ...r, status };
  });

  const outdated = records.filter((c) => statusOf(c, now) === 'OUTDATED');
  for (const c of outdated) {
    reasons.push(
      `${c.consent_type} consent ${c.id} was given under policy version ${c.policy_version}; version ${config().CONSENT_POLICY_VERSION} needs it renewed`,
    );
  }

  const types = CONSENT_TYPES.map((type: ConsentType) => {
    const ofType = records.filter((c) => c.consent_type === type);
    const granted = ofType.filter((c) => statusOf(c, now) === 'GRANTED').length;
    const last = latest(ofType);
    const requiredMissing = requiredStatus.some((r) => r.consent_type === type && r.status === 'MISSING');
    let status: TypeStatus = granted ? 'GRANTED' : last ? statusOf(last, now) : 'NONE';
    if (!granted && !last && requiredMissing) status = 'MISSING';
    const changes = ofType.flatMap(
      (c) => [c.granted_at, c.revoked_at, c.expired_at].filter(Boolean) as string[],
    );
    return { consent_type: type, status, granted, last_change_at: changes.sort().at(-1) ?? null };
  });

  return {
    workspace_id: workspaceId,
    user_id: userId,
    policy_version: config().CONSENT_POLICY_VERSION,
    compliant: reasons.length === 0,
    reasons,
    types,
    required: requiredStatus,
  };
}
