/**
 * What a feature holds about a data subject (a user in a workspace), for subject-access requests
 * (GDPR Art. 15): each feature that stores personal data provides a source; the export lists them.
 * Platform code: it knows no feature. A source returns API views (never a secret, a hash or a
 * sealed value).
 */
export interface SubjectDataSource {
  /** The section of the export, e.g. `api_tokens`. */
  name: string;
  collect: (workspaceId: string, userId: string) => Promise<unknown[]>;
}

/** Every item of a paged list (a source's helper): follows `next_cursor` up to `max` items. */
export async function collectPages<T>(
  page: (cursor: string | undefined) => Promise<{ data: T[]; next_cursor: string | null }>,
  max = 10_000,
): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  do {
    const p = await page(cursor);
    out.push(...p.data);
    cursor = p.next_cursor ?? undefined;
  } while (cursor && out.length < max);
  return out.slice(0, max);
}
