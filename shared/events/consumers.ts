import { webhooksConsumer } from '#shared/webhooks/fanout.ts';
import type { PronaFlowEvent } from './envelope.ts';

/** A feature that reacts to PronaFlow events. `handle` must be idempotent: SQS delivers at least once. */
export interface EventConsumer {
  name: string;
  accepts: (type: string) => boolean;
  handle: (event: PronaFlowEvent) => Promise<void>;
}

/** Every consumer of the ingest queue. A feature registers its consumer here. */
export const consumers: EventConsumer[] = [
  // ── API tokens ──
  // ── Webhooks ──
  webhooksConsumer,
  // ── Other features ──
];
