import type { PronaFlowEvent } from './envelope.ts';

/**
 * A feature that reacts to PronaFlow events. `handle` must be idempotent: SQS delivers at least
 * once. Features declare theirs; the ingest worker is given the list (the platform knows none).
 */
export interface EventConsumer {
  name: string;
  accepts: (type: string) => boolean;
  handle: (event: PronaFlowEvent) => Promise<void>;
}
