import * as v from 'valibot';
import type { CascadeKind } from '#shared/cascade.ts';
import type { PronaFlowEvent } from '#shared/events/envelope.ts';
import { check } from '#shared/validation.ts';

/** PronaFlow's deletion events and the subject each names (the documented event schema). */
export const LIFECYCLE_EVENTS = {
  /** `data: { user_id }`: global, whatever the envelope's `workspace_id`. */
  'user.deleted': 'user',
  /** The envelope's `workspace_id`; `data: {}`. */
  'workspace.deleted': 'workspace',
  /** `data: { plugin_id }`. */
  'plugin.deleted': 'plugin',
  /** `data: { oauth_app_id }`. */
  'oauth_app.deleted': 'oauth_app',
} as const satisfies Record<string, CascadeKind>;

export const LIFECYCLE_EVENT_TYPES = Object.keys(LIFECYCLE_EVENTS);

const id = v.pipe(v.string(), v.minLength(1), v.maxLength(128));
const dataOf = {
  user: v.object({ user_id: id }),
  plugin: v.object({ plugin_id: id }),
  oauth_app: v.object({ oauth_app_id: id }),
};

/** The subject a deletion event names, or undefined when its data is not valid. */
export function subjectOf(event: PronaFlowEvent): { kind: CascadeKind; id: string } | undefined {
  const kind = LIFECYCLE_EVENTS[event.type as keyof typeof LIFECYCLE_EVENTS];
  switch (kind) {
    case 'workspace':
      return { kind, id: event.workspace_id };
    case 'user': {
      const data = check(dataOf.user, event.data);
      return data.success ? { kind, id: data.data.user_id } : undefined;
    }
    case 'plugin': {
      const data = check(dataOf.plugin, event.data);
      return data.success ? { kind, id: data.data.plugin_id } : undefined;
    }
    case 'oauth_app': {
      const data = check(dataOf.oauth_app, event.data);
      return data.success ? { kind, id: data.data.oauth_app_id } : undefined;
    }
    default:
      return undefined;
  }
}
