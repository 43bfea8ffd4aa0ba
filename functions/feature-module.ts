/**
 * What a feature tells the rest of the service (`functions/<feature>/feature.ts`). The registry,
 * `functions/features.ts`, lists the features; the CDK app (one nested stack per feature), the
 * local runtime (routing, pollers, schedules), the OpenAPI document, the runtime grants and the
 * route-coverage tests all read it.
 *
 * A `feature.ts` holds data only (no aws-cdk-lib, no AWS SDK), so the local runtime and the tests
 * load the registry cheaply. Handlers never import a `feature.ts`, only their own `routes.ts`: a
 * bundle then holds one feature's rows, and editing another feature changes nothing in it.
 */
import type { RouteDef } from '#shared/http/route.ts';
import type { QueueId } from '#shared/queue-catalog.ts';
import type { WorkerDef } from './workers.ts';

export interface FeatureModule {
  /**
   * Its folder under `functions/` and `shared/` (and the prefix of its route handlers), and the id
   * of its nested stack (PascalCased, `<Id>Feature`).
   */
  id: string;
  /** Display name: the OpenAPI tag of its routes and the capability's name in `GET /status`. */
  name: string;
  /** The feature's route rows (its `routes.ts`). */
  routes: Record<string, RouteDef>;
  /** Its queue consumers and scheduled jobs. @default none */
  workers?: WorkerDef[];
  /**
   * The queues it owns: its workers consume them (a worker may consume only its feature's queues).
   * Queues are stateful and other features send to them, so they live in the ROOT stack with
   * their DLQ and alarm (catalog: shared/queue-catalog.ts); the feature's stack gets identifiers.
   * @default none
   */
  queues?: QueueId[];
  /**
   * PronaFlow event types its consumers of the ingest queue apply (the consumers themselves are
   * code, listed by the ingest worker, functions/workers/ingest-events.ts; a unit test checks the
   * two agree, consumers named `<id>` or `<id>.<what>`). @default none
   */
  consumes?: string[];
  /** Environment settings its code reads (keys of shared/config.ts, checked by a unit test). @default none */
  settings?: string[];
  /**
   * Its functions read the OAuth app catalog: when the stack is given an OAUTH_APPS_FILE, the
   * file is shipped in their bundles. (Workers get it when they hold `secrets:oauth:read`.)
   */
  bundlesOAuthCatalog?: boolean;
  /**
   * Handlers of this feature that describe the whole API. They must not bundle the registry (their
   * asset would then change with any row of any feature), so the stack gives them, at build time:
   * - `routeManifest`: method, path, tag and pending of every route, inlined into the bundle
   *   (functions/system/route-manifest.ts); it changes when a route is added, removed, moved or
   *   (un)pended;
   * - `openApiDocument`: the OpenAPI document, as a file in a Lambda layer of the feature's stack
   *   (functions/system/openapi-document.ts); the function's own asset never changes.
   * @default none
   */
  surfaceViews?: { routeManifest?: string[]; openApiDocument?: string[] };
}
