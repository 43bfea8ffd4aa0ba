/**
 * What a sync needs to talk to the provider of a binding: its connection (re-read, so a deleted
 * or expired one is seen), its app (for the API base URL), its adapter and a provider client
 * for this invocation (provider-http.ts).
 */

import { findApp, type OAuthApp } from '#shared/oauth/catalog.ts';
import type { ConnectionItem } from '#shared/oauth/connections-repo.ts';
import { getConnection } from '#shared/oauth/connections-repo.ts';
import { deletedAppsAmong } from '#shared/oauth/deleted-apps.ts';
import type { AdapterContext, SyncAdapter } from './adapter.ts';
import { adapterFor } from './adapters/index.ts';
import { createProviderHttp, emptyProviderStats, type ProviderStats } from './provider-http.ts';
import type { BindingItem } from './store.ts';

/** Why a binding cannot reach its provider: the run fails with it and the binding goes to ERROR. */
export class BindingUnreachable extends Error {
  override name = 'BindingUnreachable';
  constructor(
    readonly code: 'connection_deleted' | 'app_unavailable' | 'adapter_unavailable',
    message: string,
  ) {
    super(message);
  }
}

export interface OpenedContext {
  adapter: SyncAdapter;
  ctx: AdapterContext;
  stats: ProviderStats;
  connection: ConnectionItem;
  app: OAuthApp;
  /** The ETags as the provider client left them. */
  etags: Map<string, string>;
  /**
   * The ETags this invocation read or wrote, as it left them (saved with the run's end): the
   * others name listings no run asks for any more (an older checkpoint), so they are dropped
   * rather than kept on the binding for ever.
   */
  usedEtags: () => Record<string, string>;
}

/** A binding's ETags that remember which ones the provider client asked for or changed. */
class UsedEtags extends Map<string, string> {
  private readonly touched = new Set<string>();
  constructor(stored: Record<string, string>) {
    super();
    for (const [k, v] of Object.entries(stored)) super.set(k, v);
  }
  override get(key: string) {
    this.touched.add(key);
    return super.get(key);
  }
  override set(key: string, value: string) {
    this.touched.add(key);
    return super.set(key, value);
  }
  override delete(key: string) {
    this.touched.add(key);
    return super.delete(key);
  }
  used(): Record<string, string> {
    return Object.fromEntries([...this].filter(([k]) => this.touched.has(k)));
  }
}

/** Opens the provider of a binding for one invocation, which must stop calling at `deadline` (epoch ms). */
export async function openAdapterContext(
  binding: BindingItem,
  opts: {
    deadline?: number;
    maxInlineWaitMs?: number;
    now?: () => number;
    sleep?: (ms: number) => Promise<void>;
  } = {},
): Promise<OpenedContext> {
  const connection = await getConnection(binding.workspace_id, binding.created_by, binding.connection_id);
  if (!connection) {
    throw new BindingUnreachable(
      'connection_deleted',
      `The connection ${binding.connection_id} no longer exists`,
    );
  }
  const app = findApp(binding.app_id);
  if (!app?.api_base_url || (await deletedAppsAmong([binding.app_id])).size) {
    throw new BindingUnreachable(
      'app_unavailable',
      `The app ${binding.app_id} is not in the catalog or has no API base URL`,
    );
  }
  const adapter = adapterFor(binding.adapter);
  if (!adapter) throw new BindingUnreachable('adapter_unavailable', `No sync adapter ${binding.adapter}`);
  const stats = emptyProviderStats();
  const etags = new UsedEtags(binding.etags ?? {});
  const http = createProviderHttp({
    app,
    connection,
    adapter,
    deadline: opts.deadline ?? Date.now() + 25_000,
    etags,
    stats,
    ...(opts.maxInlineWaitMs === undefined ? {} : { maxInlineWaitMs: opts.maxInlineWaitMs }),
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.sleep ? { sleep: opts.sleep } : {}),
  });
  return { adapter, ctx: { http }, stats, connection, app, etags, usedEtags: () => etags.used() };
}
