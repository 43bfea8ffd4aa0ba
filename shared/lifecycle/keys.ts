import type { CascadeKind } from '#shared/cascade.ts';

/** Key builders of the lifecycle feature (rows L1–L4 in shared/db/README.md). */
export const lifecycleKeys = {
  /** The cascade record of a subject (L3): where its sweep is, what it deleted. */
  cascade: (kind: CascadeKind, id: string) => ({
    pk: `LIFECYCLE#${kind}#${encodeURIComponent(id)}`,
    sk: 'CASCADE',
  }),
};
