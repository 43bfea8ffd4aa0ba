/**
 * Status lines: background work in progress that `GET /status` reports (a lifecycle cascade, …),
 * kept in the table so the status function reads them with ONE Query and bundles no feature
 * code. A feature writes its own line; the platform knows none. The route is public: an entry
 * says what kind of work runs and how far it got, never whose (no user or workspace ids).
 */
import { DeleteCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { db, tableName } from '#shared/db/client.ts';
import { keys } from '#shared/db/keys.ts';

/** One piece of work in progress, as GET /status shows it. */
export interface StatusEntry {
  /** What kind of work (`workspace`, `user`, …). */
  kind: string;
  /** Where it is (the step running now). */
  step: string;
  started_at: string;
  updated_at: string;
  /** Items handled so far. */
  items_done: number;
}

export interface StatusLine {
  name: string;
  in_progress: number;
  /** More entries run than the status lists. */
  truncated: boolean;
  entries: StatusEntry[];
}

/** Entries listed per line at most (the count of a line is capped by the read, see `truncated`). */
export const STATUS_ENTRIES_READ = 200;
const LISTED = 20;

/** Records (or moves on) an entry of `line`; the line's header is written with it. */
export async function putStatusEntry(line: string, entryId: string, entry: StatusEntry): Promise<void> {
  await Promise.all([
    db().send(
      new PutCommand({
        TableName: tableName(),
        Item: { ...keys.statusLine(line), entity: 'StatusLine', line },
      }),
    ),
    db().send(
      new PutCommand({
        TableName: tableName(),
        Item: { ...keys.statusEntry(line, entryId), entity: 'StatusEntry', line, ...entry },
      }),
    ),
  ]);
}

/** The entry is done: it leaves the line (the header stays, so the line shows 0). */
export async function deleteStatusEntry(line: string, entryId: string): Promise<void> {
  await db().send(new DeleteCommand({ TableName: tableName(), Key: keys.statusEntry(line, entryId) }));
}

/** Every line, with its entries, oldest first (one Query of the lines of the status partition). */
export async function readStatusLines(): Promise<StatusLine[]> {
  const out = await db().send(
    new QueryCommand({
      TableName: tableName(),
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :lines)',
      ExpressionAttributeValues: { ':pk': keys.statusPartition, ':lines': keys.statusLinesPrefix },
      Limit: STATUS_ENTRIES_READ,
    }),
  );
  return statusLinesOf(out.Items ?? [], out.LastEvaluatedKey !== undefined);
}

/**
 * The status lines among items of the status partition (others, e.g. the service-wide counters
 * an operator's view reads in the same Query, are skipped); `truncated`: the read stopped early.
 */
export function statusLinesOf(items: readonly Record<string, unknown>[], truncated: boolean): StatusLine[] {
  const lines = new Map<string, StatusLine>();
  let read = 0;
  for (const item of items) {
    if (item.entity !== 'StatusLine' && item.entity !== 'StatusEntry') continue;
    if (++read > STATUS_ENTRIES_READ) {
      truncated = true;
      break;
    }
    const name = String(item.line);
    const line = lines.get(name) ?? { name, in_progress: 0, truncated: false, entries: [] };
    lines.set(name, line);
    if (item.entity !== 'StatusEntry') continue;
    line.in_progress++;
    line.entries.push({
      kind: String(item.kind),
      step: String(item.step),
      started_at: String(item.started_at),
      updated_at: String(item.updated_at),
      items_done: Number(item.items_done ?? 0),
    });
  }
  return [...lines.values()].map((l) => {
    const entries = l.entries.sort((a, b) => a.started_at.localeCompare(b.started_at));
    return { ...l, truncated: truncated || entries.length > LISTED, entries: entries.slice(0, LISTED) };
  });
}
