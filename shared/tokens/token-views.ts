/** The API view of a token (never its value or hash) and the status it shows. */
import type { TokenView } from './schemas.ts';
import type { TokenItem } from './token-store.ts';

export function tokenStatus(item: TokenItem, now = new Date()): TokenView['status'] {
  if (item.revoked_at) return 'revoked';
  if (item.expires_at <= now.toISOString()) return 'expired';
  return item.is_active ? 'active' : 'inactive';
}

export function toView(item: TokenItem, now = new Date()): TokenView {
  return {
    id: item.id,
    name: item.name,
    user_id: item.user_id,
    workspace_id: item.workspace_id,
    scopes: item.scopes,
    status: tokenStatus(item, now),
    is_active: item.is_active,
    created_at: item.created_at,
    updated_at: item.updated_at,
    expires_at: item.expires_at,
    last_used_at: item.last_used_at ?? null,
    last_used_ip: item.last_used_ip ?? null,
    rotated_at: item.rotated_at ?? null,
    revoked_at: item.revoked_at ?? null,
  };
}
