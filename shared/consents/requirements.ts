/**
 * Consents the service requires for what a user has set up (an OAuth connection shares their data
 * with its provider: THIRD_PARTY for it). Features that need consent provide a source; the status
 * route lists them (functions/consents/requirements.ts) and reports MISSING where none is live.
 */
import type { ConsentType } from './schemas.ts';

export interface ConsentRequirement {
  consent_type: ConsentType;
  resource_type: string;
  resource_id: string;
  user_id: string;
  /** Why it is needed, shown in the status. */
  reason: string;
}

export interface ConsentRequirementSource {
  name: string;
  /** What `userId` (or, with null, every member of the workspace) needs consent for. */
  requirements: (workspaceId: string, userId: string | null) => Promise<ConsentRequirement[]>;
}
