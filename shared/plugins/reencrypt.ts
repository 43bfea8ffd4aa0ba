/**
 * Re-encryption of plugin installations' secret settings after a data-key rotation: the plugin
 * marketplace's target for the platform's re-encrypt job (`shared/reencrypt.ts`). An installation
 * holds one sealed value, `secrets_sealed` (its installation as AAD); it is re-sealed with the same
 * content, conditional on being unchanged. The write keeps the installation's `revision`, so no
 * admin's edit is refused for it: an edit that raced it and wrote back an older sealing is found
 * again by the next pass, and the job is only done after a pass that found none.
 */
import { GetCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { decrypt, encrypt, sealedKeyId } from '#shared/crypto.ts';
import { db, tableName } from '#shared/db/client.ts';
import { isConditionFailed } from '#shared/db/conditions.ts';
import {
  type ReencryptStats,
  type ReencryptTarget,
  type ResealResult,
  runReencryptJob,
} from '#shared/reencrypt.ts';
import { secretsAad } from './installations.ts';
import { pluginKeys } from './keys.ts';
import type { InstallationItem } from './store.ts';

const RESEAL_ATTEMPTS = 3;

/** Installations whose secrets are sealed with another key than `kid` (P9: consistent paged scan, maintenance only). */
async function sealedWithOtherKey(kid: string, start: Record<string, unknown> | undefined) {
  const out = await db().send(
    new ScanCommand({
      TableName: tableName(),
      FilterExpression:
        'entity = :e AND attribute_exists(secrets_sealed) AND NOT begins_with(secrets_sealed, :p)',
      ExpressionAttributeValues: { ':e': 'PluginInstallation', ':p': `v1.${kid}.` },
      ExclusiveStartKey: start,
      ConsistentRead: true,
      Limit: 200,
    }),
  );
  return { items: (out.Items ?? []) as InstallationItem[], next: out.LastEvaluatedKey };
}

async function reseal(first: InstallationItem, kid: string): Promise<ResealResult> {
  let item = first;
  for (let attempt = 0; attempt < RESEAL_ATTEMPTS; attempt++) {
    if (!item.secrets_sealed || sealedKeyId(item.secrets_sealed) === kid) return 'current';
    const aad = secretsAad(item.workspace_id, item.plugin_id);
    const resealed = await encrypt(await decrypt(item.secrets_sealed, aad), aad);
    const key = pluginKeys.installation(item.workspace_id, item.plugin_id);
    try {
      await db().send(
        new UpdateCommand({
          TableName: tableName(),
          Key: key,
          UpdateExpression: 'SET secrets_sealed = :new',
          ConditionExpression: 'secrets_sealed = :old',
          ExpressionAttributeValues: { ':new': resealed, ':old': item.secrets_sealed },
        }),
      );
      return 'resealed';
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
    }
    const { Item } = await db().send(
      new GetCommand({ TableName: tableName(), Key: key, ConsistentRead: true }),
    );
    if (!Item) return 'current'; // uninstalled meanwhile
    item = Item as InstallationItem;
  }
  return 'skipped';
}

/** The marketplace's target for the platform's re-encrypt job (progress in `PLUGINJOB#REENCRYPT`). */
export const pluginSecretsTarget: ReencryptTarget<InstallationItem> = {
  name: 'plugin secret settings',
  state: { key: pluginKeys.reencryptJob(), entity: 'PluginReencryptJob' },
  findPage: sealedWithOtherKey,
  reseal,
  describe: (i) => ({ plugin_id: i.plugin_id, workspace_id: i.workspace_id }),
};

export function reencryptPluginSecrets(
  opts: { shouldStop?: () => boolean; now?: () => Date } = {},
): Promise<ReencryptStats> {
  return runReencryptJob(pluginSecretsTarget, opts);
}
