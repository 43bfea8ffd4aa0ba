import { afterDeployWorker } from '#shared/after-deploy.ts';
import { seedCatalog } from '#shared/plugins/seed.ts';

/** Run once after each deployment and at each local start: the marketplace's seed plugins. */
export const handler = afterDeployWorker('seed-plugin-catalog', () => seedCatalog());
