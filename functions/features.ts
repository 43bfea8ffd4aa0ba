/**
 * THE registry: the features of the service, in order. The CDK app builds one nested stack per
 * entry, the local runtime serves their routes and runs their workers, the OpenAPI document and
 * the route-coverage tests read them. Adding a feature = its folders + one line here.
 *
 * No deployed function imports this module (a bundle would hold every feature's rows): the
 * surface-wide functions of `system` get what they need of it at build time.
 */
import type { RouteDef } from '#shared/http/route.ts';
import { bindings } from './bindings/feature.ts';
import { consents } from './consents/feature.ts';
import type { FeatureModule } from './feature-module.ts';
import { lifecycle } from './lifecycle/feature.ts';
import { oauth } from './oauth/feature.ts';
import { plugins } from './plugins/feature.ts';
import { system } from './system/feature.ts';
import { tokens } from './tokens/feature.ts';
import { webhooks } from './webhooks/feature.ts';
import type { WorkerDef } from './workers.ts';

const registry = [
  system,
  tokens,
  webhooks,
  oauth,
  bindings,
  plugins,
  consents,
  lifecycle,
] as const satisfies readonly FeatureModule[];

/** The features, in order. */
export const features: readonly FeatureModule[] = registry;
/** The registry with each feature's own row types (for the typed union of functions/routes.ts). */
export type Registry = typeof registry;

/** Every route, in registry order. */
export const routeList: RouteDef[] = features.flatMap((f) => Object.values(f.routes));
/** Every worker, in registry order. */
export const workers: WorkerDef[] = features.flatMap((f) => f.workers ?? []);
