import type { FeatureModule } from '#functions/feature-module.ts';
import { routes } from './routes.ts';

/** Data sync bindings between a connection and PronaFlow (pending: its routes answer 501). */
export const bindings = {
  id: 'bindings',
  name: 'Sync bindings',
  routes,
  // Its sync worker is still to come; the queue (and DLQ, alarm) exists already.
  queues: ['sync'],
} satisfies FeatureModule;
