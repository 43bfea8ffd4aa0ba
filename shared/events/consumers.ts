import type { PronaFlowEvent } from './envelope.ts';

/**
 * A feature that reacts to PronaFlow events. `handle` must be idempotent: SQS delivers at least
 * once. Features declare theirs; the ingest worker is given the list (the platform knows none).
 */
export interface EventConsumer {
  name: string;
  accepts: (type: string) => boolean;
  handle: (event: PronaFlowEvent, meta: EventMeta) => Promise<void>;
}

/** What a consumer may know of the message that brought the event. */
export interface EventMeta {
  /** How often SQS has handed the message out (1: the first time; more after a failure or a crash). */
  receiveCount: number;
}
