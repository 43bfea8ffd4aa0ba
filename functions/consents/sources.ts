/**
 * What other features tell consents: the consents they require (status: MISSING) and the
 * personal data they hold (the subject-access export). A feature that needs consent for something
 * a user sets up, or stores data about users, adds its source here.
 */
import type { ConsentRequirementSource } from '#shared/consents/requirements.ts';
import { oauthConsentRequirements, oauthSubjectData } from '#shared/oauth/subject-data.ts';
import { pluginSubjectData } from '#shared/plugins/subject-data.ts';
import type { SubjectDataSource } from '#shared/subject-data.ts';
import { tokenSubjectData } from '#shared/tokens/subject-data.ts';
import { webhookSubjectData } from '#shared/webhooks/subject-data.ts';

export const requirementSources: ConsentRequirementSource[] = [oauthConsentRequirements];

export const subjectDataSources: SubjectDataSource[] = [
  tokenSubjectData,
  oauthSubjectData,
  webhookSubjectData,
  pluginSubjectData,
];
