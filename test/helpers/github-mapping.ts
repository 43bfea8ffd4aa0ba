import type { FieldMapping } from '#shared/bindings/fields.ts';

/**
 * The GitHub issues ↔ tasks mapping the bindings tests and the bindings bench use (a module of its
 * own, without vitest, so the bench can import it).
 */
export const GITHUB_TASK_MAPPING: FieldMapping[] = [
  { source: 'title', target: 'title' },
  { source: 'body', target: 'description' },
  {
    source: 'state',
    target: 'status',
    transform: {
      type: 'value_map',
      map: { open: 'todo', closed: 'done' },
      inverse: { todo: 'open', in_progress: 'open', in_review: 'open', done: 'closed', cancelled: 'closed' },
    },
  },
  { source: 'labels', target: 'labels' },
];
