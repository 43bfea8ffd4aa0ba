/**
 * Append-only items (the audit log: partition keys starting with `AUDIT#`) may be put once and
 * never updated nor deleted by a function. In AWS an IAM Deny on every execution role enforces it
 * (infra/constructs/grants.ts); where AWS is emulated this check does, inside invocations run
 * with their grants. Test code outside such a scope (which plays an attacker with the table's own
 * credentials) is not held to it.
 */
import { inGrantsScope, MissingGrantError } from '#shared/runtime-grants.ts';

/** A key as the document client holds it (`pk: 'AUDIT#…'`) or marshalled (`pk: { S: 'AUDIT#…' }`). */
/** Partition keys of append-only items start with this (the audit log's). */
export const APPEND_ONLY_PREFIX = 'AUDIT#';

type Marshalled = Record<string, string | { S?: string }> | undefined;

const pkOf = (key: Marshalled) => {
  const pk = key?.pk;
  return typeof pk === 'string' ? pk : pk?.S;
};
const isAppendOnly = (key: Marshalled) => pkOf(key)?.startsWith(APPEND_ONLY_PREFIX) === true;
/** Command names as the raw client and as the document client call them. */
const base = (command: string) => command.replace(/Item(s)?Command$|Command$/, '');

function refuse(command: string): never {
  throw new MissingGrantError(
    `DynamoDB ${command} on an audit entry: the audit log is append-only (denied to every function)`,
  );
}

/** Throws when a (marshalled) DynamoDB command would change or remove an append-only item. */
export function assertAppendOnly(command: string, input: unknown): void {
  if (!inGrantsScope()) return;
  const i = input as {
    Key?: Marshalled;
    RequestItems?: Record<
      string,
      { DeleteRequest?: { Key: Marshalled }; PutRequest?: { Item: Marshalled } }[]
    >;
    TransactItems?: { Update?: { Key: Marshalled }; Delete?: { Key: Marshalled } }[];
  };
  const name = base(command);
  if ((name === 'Update' || name === 'Delete') && isAppendOnly(i.Key)) refuse(command);
  if (name === 'BatchWrite') {
    for (const requests of Object.values(i.RequestItems ?? {})) {
      if (requests.some((r) => isAppendOnly(r.DeleteRequest?.Key) || isAppendOnly(r.PutRequest?.Item)))
        refuse(command);
    }
  }
  if (name === 'TransactWrite') {
    if ((i.TransactItems ?? []).some((t) => isAppendOnly(t.Update?.Key) || isAppendOnly(t.Delete?.Key)))
      refuse(command);
  }
}
