import type { WorkspaceRole } from '#shared/http/caller.ts';

export type ScopeLevel = 'read' | 'write' | 'admin';
const LEVELS: ScopeLevel[] = ['read', 'write', 'admin'];

/** The product's resources a token can be given access to. */
export const SCOPE_RESOURCES = {
  tasks: 'tasks',
  projects: 'projects',
  comments: 'comments on tasks and projects',
  webhooks: 'webhook endpoints and their deliveries',
  integrations: 'OAuth connections and data sync bindings',
  plugins: 'installed plugins and their configuration',
  consents: 'consent records',
  tokens: 'API tokens and their usage logs',
} as const;
export type ScopeResource = keyof typeof SCOPE_RESOURCES;

const LEVEL_TEXT: Record<ScopeLevel, string> = {
  read: 'Read',
  write: 'Create, update and delete',
  admin: 'Administer (settings, ownership, destructive bulk actions on)',
};

export interface ScopeDef {
  name: string;
  resource: ScopeResource;
  level: ScopeLevel;
  description: string;
  /** The lowest workspace role allowed to grant it. */
  min_role: WorkspaceRole;
  /** Scopes this one includes (admin ⊃ write ⊃ read on the same resource). */
  includes: string[];
}

/** The scope catalog: `read:`, `write:` and `admin:` over every resource. */
export const SCOPES: ScopeDef[] = (Object.keys(SCOPE_RESOURCES) as ScopeResource[]).flatMap((resource) =>
  LEVELS.map((level, i) => ({
    name: `${level}:${resource}`,
    resource,
    level,
    description: `${LEVEL_TEXT[level]} ${SCOPE_RESOURCES[resource]}.`,
    min_role: level === 'admin' ? ('admin' as const) : ('member' as const),
    includes: LEVELS.slice(0, i).map((l) => `${l}:${resource}`),
  })),
);
const BY_NAME = new Map(SCOPES.map((s) => [s.name, s]));

export function isKnownScope(name: string): boolean {
  return BY_NAME.has(name);
}

/**
 * Scopes PronaFlow operators hold whatever their workspace role (marketplace publishing), and may
 * put on the tokens they create.
 */
export const OPERATOR_SCOPES = ['admin:plugins'];

/** The scopes of `requested` that a user with `role` (an operator or not) may not grant. */
export function scopesBeyondRole(requested: string[], role: WorkspaceRole, operator = false): string[] {
  return requested.filter(
    (s) =>
      BY_NAME.get(s)?.min_role === 'admin' && role !== 'admin' && !(operator && OPERATOR_SCOPES.includes(s)),
  );
}

/** Every scope held once implications are applied (`write:x` also grants `read:x`). */
export function effectiveScopes(held: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const s of held) {
    out.add(s);
    for (const inc of BY_NAME.get(s)?.includes ?? []) out.add(inc);
  }
  return out;
}

/** What a session user may do: read and write everything, plus admin scopes when admin. */
export function roleScopes(role: WorkspaceRole, operator = false): string[] {
  const scopes = SCOPES.filter((s) => role === 'admin' || s.min_role === 'member').map((s) => s.name);
  return operator ? [...new Set([...scopes, ...OPERATOR_SCOPES])] : scopes;
}

/**
 * True when the caller holds at least one of `required` (a route's scopes). Tokens hold their
 * scopes; session users hold their role's scopes. No scope required → allowed.
 */
export function satisfiesScopes(
  caller: { kind: 'session' | 'token'; role: WorkspaceRole; scopes?: string[]; operator?: boolean },
  required: string[],
): boolean {
  if (required.length === 0) return true;
  const held = effectiveScopes(
    caller.kind === 'token' ? (caller.scopes ?? []) : roleScopes(caller.role, caller.operator === true),
  );
  return required.some((s) => held.has(s));
}
