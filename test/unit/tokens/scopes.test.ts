import { describe, expect, it } from 'vitest';
import {
  effectiveScopes,
  isKnownScope,
  roleScopes,
  SCOPES,
  satisfiesScopes,
  scopesBeyondRole,
} from '#shared/tokens/scopes.ts';

describe('scope catalog', () => {
  it('offers read, write and admin over each resource, each with a description', () => {
    for (const resource of [
      'tasks',
      'projects',
      'webhooks',
      'integrations',
      'plugins',
      'consents',
      'tokens',
    ]) {
      for (const level of ['read', 'write', 'admin']) expect(isKnownScope(`${level}:${resource}`)).toBe(true);
    }
    for (const s of SCOPES) expect(s.description.length).toBeGreaterThan(5);
    expect(new Set(SCOPES.map((s) => s.name)).size).toBe(SCOPES.length);
    expect(isKnownScope('read:everything')).toBe(false);
  });

  it('lets members grant read and write scopes but not admin ones', () => {
    expect(scopesBeyondRole(['read:tasks', 'write:webhooks', 'admin:plugins'], 'member')).toEqual([
      'admin:plugins',
    ]);
    expect(scopesBeyondRole(['admin:plugins'], 'admin')).toEqual([]);
  });

  it('makes admin include write and write include read on the same resource only', () => {
    const held = effectiveScopes(['admin:webhooks', 'write:tasks']);
    expect([...held].sort()).toEqual(
      ['admin:webhooks', 'read:tasks', 'read:webhooks', 'write:tasks', 'write:webhooks'].sort(),
    );
  });

  it('checks a token by its scopes and a session user by its role', () => {
    const token = { kind: 'token' as const, role: 'admin' as const, scopes: ['read:webhooks'] };
    expect(satisfiesScopes(token, ['read:webhooks'])).toBe(true);
    expect(satisfiesScopes(token, ['write:webhooks'])).toBe(false);
    expect(satisfiesScopes(token, [])).toBe(true);
    expect(satisfiesScopes({ kind: 'session', role: 'member' }, ['write:webhooks'])).toBe(true);
    expect(satisfiesScopes({ kind: 'session', role: 'member' }, ['admin:webhooks'])).toBe(false);
    expect(satisfiesScopes({ kind: 'session', role: 'admin' }, ['admin:webhooks'])).toBe(true);
    expect(roleScopes('member').some((s) => s.startsWith('admin:'))).toBe(false);
  });
});
