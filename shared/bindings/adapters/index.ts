/**
 * The sync adapters, by the name an OAuth app gives in `sync_adapter`. An app without one (or
 * naming an adapter not listed here) cannot be bound.
 */
import type { OAuthApp } from '#shared/oauth/catalog.ts';
import type { SyncAdapter } from '../adapter.ts';
import { githubAdapter } from './github.ts';
import { slackAdapter } from './slack.ts';

const adapters: readonly SyncAdapter[] = [githubAdapter, slackAdapter];

const byId = new Map(adapters.map((a) => [a.id, a]));

export function adapterFor(id: string | null | undefined): SyncAdapter | undefined {
  return id ? byId.get(id) : undefined;
}

/** The adapter of an app of the catalog, or undefined when the app cannot be synced. */
export function adapterOfApp(app: OAuthApp): SyncAdapter | undefined {
  return adapterFor(app.sync_adapter);
}
