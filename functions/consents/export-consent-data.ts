import { routes } from '#functions/consents/routes.ts';
import { endpoint } from '#functions/endpoint.ts';
import { exportSubjectData } from '#shared/consents/export.ts';
import { ok } from '#shared/http/reply.ts';
import { subjectDataSources } from './sources.ts';

export const handler = endpoint(routes.exportConsentData, async ({ caller }) =>
  ok(await exportSubjectData(caller, subjectDataSources)),
);
