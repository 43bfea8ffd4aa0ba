/**
 * The single table's physical shape, shared by the CDK stack, the local runtime and the tests
 * so that all three create exactly the same table.
 */
export const TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'ttl',
  indexes: [
    { name: 'gsi1', partitionKey: 'gsi1pk', sortKey: 'gsi1sk', projection: 'ALL', nonKeyAttributes: [] },
    /**
     * `byUser` (U1 in the table README): every item carrying a `user_id` (tokens, their
     * authentication records, quotas, membership records, usage logs, OAuth connections and
     * pending authorizations, plugin installations, consents), by user, whatever the workspace.
     * What a `user.deleted` cascade finds the user's items through; it indexes existing items
     * without a backfill (DynamoDB builds a new index from the table). Keys, `entity` and
     * `workspace_id` only: the cascade reads keys, never the items' content, from it.
     */
    {
      name: 'byUser',
      partitionKey: 'user_id',
      sortKey: 'sk',
      projection: 'INCLUDE',
      nonKeyAttributes: ['entity', 'workspace_id'],
    },
  ],
} as const;

/** CreateTable input for DynamoDB Local and integration tests (the CDK stack builds its own). */
export function createTableInput(tableName: string) {
  const attrs = [
    ...new Set([
      TABLE.partitionKey,
      TABLE.sortKey,
      ...TABLE.indexes.flatMap((i) => [i.partitionKey, i.sortKey]),
    ]),
  ];
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST' as const,
    AttributeDefinitions: attrs.map((name) => ({ AttributeName: name, AttributeType: 'S' as const })),
    KeySchema: [
      { AttributeName: TABLE.partitionKey, KeyType: 'HASH' as const },
      { AttributeName: TABLE.sortKey, KeyType: 'RANGE' as const },
    ],
    GlobalSecondaryIndexes: TABLE.indexes.map((i) => ({
      IndexName: i.name,
      KeySchema: [
        { AttributeName: i.partitionKey, KeyType: 'HASH' as const },
        { AttributeName: i.sortKey, KeyType: 'RANGE' as const },
      ],
      Projection:
        i.projection === 'ALL'
          ? { ProjectionType: 'ALL' as const }
          : { ProjectionType: i.projection, NonKeyAttributes: [...i.nonKeyAttributes] },
    })),
  };
}
