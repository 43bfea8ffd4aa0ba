/**
 * PronaFlow's side of a mapping: the fields of each entity a binding can sync (the targets of
 * `field_mapping`), documented like an adapter's catalog (`GET /bindings/targets`).
 */
import type { FieldDef, SyncEntity } from './fields.ts';

export const TASK_STATUSES = ['todo', 'in_progress', 'in_review', 'done', 'cancelled'] as const;

export const targetFields: Record<SyncEntity, FieldDef[]> = {
  task: [
    { name: 'title', type: 'string', description: 'One-line title', required: true },
    { name: 'description', type: 'text', description: 'Markdown body' },
    { name: 'status', type: 'enum', values: TASK_STATUSES, description: 'Workflow status' },
    { name: 'assignee', type: 'user', description: 'Assignee (a login of the provider side, as given)' },
    { name: 'due_date', type: 'date', description: 'Due date, YYYY-MM-DD' },
    { name: 'labels', type: 'string[]', description: 'Label names' },
    { name: 'external_url', type: 'string', description: 'Link to the external record', read_only: true },
  ],
  comment: [
    { name: 'body', type: 'text', description: 'Markdown body', required: true },
    { name: 'author', type: 'user', description: 'Author (a login of the provider side, as given)' },
    {
      name: 'task_external_id',
      type: 'string',
      description: 'External id of the commented task',
      read_only: true,
    },
  ],
};

export function targetField(entity: SyncEntity, name: string): FieldDef | undefined {
  return targetFields[entity].find((f) => f.name === name);
}
