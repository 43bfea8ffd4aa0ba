/**
 * Reading the marketplace: the catalog (text search, category, sort by name or installs, paged),
 * one plugin, its versions. The catalog is small (hundreds of plugins, not millions): a list reads
 * the catalog's one index partition (P1) and filters and sorts in memory; its cursor is the
 * position after the last plugin shown, under the same codec as every list.
 */
import { listCursor, queryPage } from '#shared/db/pagination.ts';
import { queryAll } from '#shared/db/query.ts';
import type { Page, PageQuery } from '#shared/http/common-params.ts';
import { pluginKeys } from './keys.ts';
import type { PluginView, VersionView } from './schemas.ts';
import { getVisiblePlugin, type PluginItem, type VersionItem } from './store.ts';
import { toPluginView, toVersionView } from './views.ts';

export interface CatalogQuery extends PageQuery {
  q?: string;
  category?: string;
  sort: 'name' | 'installs';
}

/**
 * The position of a plugin in a sorted catalog, `{ at, id }` compared in that order: `at` is the
 * rank by installs (the complement of the count, zero-padded, so the most installed come first)
 * or the hex of the lower-cased name's UTF-8 (which sorts as the name does, byte by byte).
 */
function position(p: PluginItem, sort: CatalogQuery['sort']): { at: string; id: string } {
  const at =
    sort === 'installs'
      ? String(1e12 - Math.max(0, p.install_count)).padStart(13, '0')
      : Buffer.from(p.manifest.name.toLowerCase(), 'utf8').toString('hex');
  return { at, id: p.id };
}

const before = (a: { at: string; id: string }, b: { at: string; id: string }) =>
  a.at < b.at || (a.at === b.at && a.id < b.id);

/** What each attribute of a catalog position looks like: a forged one is a 400 like any cursor's. */
const POSITION = {
  installs: /^\d{13}$/,
  name: /^(?:[0-9a-f]{2}){1,400}$/,
  id: /^[a-z][a-z0-9-]{1,62}[a-z0-9]$/,
} as const;

/** `GET /plugins` (for a caller acting in `workspaceId`). */
export async function listCatalog(workspaceId: string, query: CatalogQuery): Promise<Page<PluginView>> {
  const words = (query.q ?? '').toLowerCase().split(/\s+/).filter(Boolean);
  const all: PluginItem[] = [];
  for await (const item of queryAll({
    IndexName: 'gsi1',
    KeyConditionExpression: 'gsi1pk = :pk',
    ExpressionAttributeValues: { ':pk': pluginKeys.catalogPartition },
  })) {
    const p = item as unknown as PluginItem;
    if (p.status !== 'PUBLISHED') continue;
    if (query.category && p.manifest.category !== query.category) continue;
    if (!words.every((w) => p.search_text.includes(w))) continue;
    all.push(p);
  }
  const ranked = all
    .map((p) => ({ p, at: position(p, query.sort) }))
    .sort((a, b) => (before(a.at, b.at) ? -1 : 1));
  // A cursor belongs to one caller's workspace, one ordering and one filter: any other is a 400.
  const codec = listCursor({
    list: `plugins:${workspaceId}:${query.sort}:${query.category ?? ''}:${words.join(' ')}`,
    key: { at: { pattern: POSITION[query.sort] }, id: { pattern: POSITION.id } },
  });
  const after = codec.decode(query.cursor) as { at: string; id: string } | undefined;
  const rest = after === undefined ? ranked : ranked.filter((r) => before(after, r.at));
  const page = rest.slice(0, query.limit);
  const last = page.at(-1);
  return {
    data: page.map((r) => toPluginView(r.p)),
    next_cursor: rest.length > page.length && last ? codec.encode(last.at) : null,
  };
}

/** `GET /plugins/{id}`: published plugins for everyone, drafts for operators too. */
export async function getPluginView(id: string, operator: boolean): Promise<PluginView> {
  return toPluginView(await getVisiblePlugin(id, operator));
}

/** `GET /plugins/{id}/versions`: newest first; versions still waiting for their upload for operators only. */
export async function listVersions(
  id: string,
  operator: boolean,
  query: PageQuery,
): Promise<Page<VersionView>> {
  await getVisiblePlugin(id, operator);
  const pk = pluginKeys.pluginPartition(id);
  const page = await queryPage(
    {
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ...(operator
        ? {}
        : { FilterExpression: '#s = :published', ExpressionAttributeNames: { '#s': 'status' } }),
      ExpressionAttributeValues: {
        ':pk': pk,
        ':prefix': pluginKeys.versionPrefix,
        ...(operator ? {} : { ':published': 'PUBLISHED' }),
      },
      ScanIndexForward: false,
    },
    {
      scope: {
        list: `plugin-versions:${operator ? 'all' : 'published'}`,
        key: { pk, sk: { prefix: pluginKeys.versionPrefix } },
      },
      limit: query.limit,
      cursor: query.cursor,
    },
  );
  return { data: (page.items as unknown as VersionItem[]).map(toVersionView), next_cursor: page.next_cursor };
}
