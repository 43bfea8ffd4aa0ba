import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { db, tableName } from '#shared/db/client.ts';
import { keys } from '#shared/db/keys.ts';

/** Progress of the re-encrypt job (one item, `OAUTHJOB#REENCRYPT`). */
export interface ReencryptJobState {
  /** The key id under which every connection was verified sealed: the job has nothing left to do. */
  done_kid?: string;
  /** The key id the job is working towards (the keyring's current key when it started). */
  kid?: string;
  /** When the job first saw `kid` as current (ISO): writers with an older cached keyring may seal with the old key until this plus the settle time. */
  current_since?: string;
  /** When the pass in progress started (ISO). */
  pass_started_at?: string;
  /** Connections found under another key so far in the pass in progress. */
  pass_found?: number;
  /** Where the pass in progress resumes; absent between passes. */
  cursor?: Record<string, unknown>;
}

/** The job's state (strongly consistent); empty before its first run. */
export async function loadReencryptJob(): Promise<ReencryptJobState> {
  const { Item } = await db().send(
    new GetCommand({ TableName: tableName(), Key: keys.oauthReencryptJob(), ConsistentRead: true }),
  );
  if (!Item) return {};
  const { pk: _pk, sk: _sk, entity: _e, updated_at: _u, ...state } = Item;
  return state as ReencryptJobState;
}

/** Replaces the job's state. */
export async function saveReencryptJob(state: ReencryptJobState, now: Date): Promise<void> {
  await db().send(
    new PutCommand({
      TableName: tableName(),
      Item: {
        ...keys.oauthReencryptJob(),
        entity: 'OAuthReencryptJob',
        ...state,
        updated_at: now.toISOString(),
      },
    }),
  );
}
