import { sha256Hex } from '#shared/crypto.ts';
import { deleteStatusEntry, putStatusEntry } from '#shared/status-lines.ts';
import type { CascadeRecord } from './cascades.ts';

/** The GET /status line of the cascades in progress. */
export const CASCADES_LINE = 'lifecycle_cascades';

/** The status route is public: an entry is named by a digest, never by the user or workspace id. */
const entryId = (r: Pick<CascadeRecord, 'kind' | 'subject_id'>) =>
  sha256Hex(`${r.kind}#${r.subject_id}`).slice(0, 32);

/** Shows (or moves on) the cascade's entry; a finished cascade leaves the line. */
export async function reportCascade(r: CascadeRecord, step: string): Promise<void> {
  if (r.status === 'DONE') {
    await deleteStatusEntry(CASCADES_LINE, entryId(r));
    return;
  }
  await putStatusEntry(CASCADES_LINE, entryId(r), {
    kind: r.kind,
    step,
    started_at: r.accepted_at,
    updated_at: r.updated_at,
    items_done: r.deleted,
  });
}
