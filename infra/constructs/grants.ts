/**
 * Maps each {@link Grant} of the route and worker tables to a least-privilege IAM policy plus the
 * environment variables a function needs to use it, and shares one execution role per feature
 * among functions whose grants are equal (a role per function would cost two resources each and
 * push the stack toward CloudFormation's 500-resource limit).
 */
import { ArnFormat, Names, Reference, Stack, Tokenization, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { BucketDef, BucketId } from '#shared/bucket-catalog.ts';
import { APPEND_ONLY_PREFIX } from '#shared/db/append-only.ts';
import type { Grant } from '#shared/http/route.ts';
import { dlqUrlsSetting, type QueueDef, type QueueId } from '#shared/queue-catalog.ts';

/** The resources grants point at. */
export interface GrantTargets {
  table: ITable;
  /** Names of the table's global secondary indexes (queried, never scanned). */
  indexNames: readonly string[];
  queues: Record<QueueId, { queue: IQueue; dlq: IQueue; def: QueueDef }>;
  buckets: Record<BucketId, { bucket: IBucket; def: BucketDef }>;
  /** `<SECRETS_PREFIX>keys`: the data-encryption keys. */
  keysSecret: ISecret;
  /** Name prefix of the OAuth app client secrets, e.g. `pronaflow-integrations/oauth/`. */
  oauthSecretPrefix: string;
}

/** Item reads, index queries and DescribeTable (the health probe). No Scan: the table is never scanned. */
const TABLE_READ_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DescribeTable',
];
/** Item writes; TransactWriteItems is authorized through these per-item actions. */
const TABLE_WRITE_ACTIONS = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:ConditionCheckItem',
];

/** What no function may do to an append-only (audit) item: change it or remove it. */
export const APPEND_ONLY_DENIED_ACTIONS = [
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
];

/** True for a `queue:<id>:send` grant of a catalogued queue. */
function isQueueSend(g: Grant): g is `queue:${QueueId}:send` {
  return /^queue:[a-z]+:send$/.test(g);
}

/** The queue a `queue:<id>:send` grant names, or undefined for other grants. */
export function grantQueue(g: Grant): QueueId | undefined {
  return isQueueSend(g) ? (g.split(':')[1] as QueueId) : undefined;
}

/**
 * Object reads: GetObject also authorizes HeadObject; GetObjectVersion reads (and copies from) a
 * pinned version, so what was verified is what gets published.
 */
const OBJECT_READ_ACTIONS = ['s3:GetObject', 's3:GetObjectVersion'];
/**
 * Object writes: PutObject also authorizes CopyObject's target and the uploads of a POST signed by
 * the function. DeleteObject on the versioned bucket only adds a delete marker: no grant includes
 * DeleteObjectVersion, so no function can erase history (the lifecycle rules expire old versions).
 */
const OBJECT_WRITE_ACTIONS = ['s3:PutObject', 's3:DeleteObject'];

/** True for a `bucket:<id>:read|write` grant of a catalogued bucket. */
function isBucketGrant(g: Grant): g is `bucket:${BucketId}:${'read' | 'write'}` {
  return /^bucket:[a-z]+:(read|write)$/.test(g);
}

/** The bucket a `bucket:<id>:read|write` grant names, or undefined for other grants. */
export function grantBucket(g: Grant): BucketId | undefined {
  return isBucketGrant(g) ? (g.split(':')[1] as BucketId) : undefined;
}

/** The cdk-nag AwsSolutions-IAM5 acknowledgment of object-level grants (`<bucket ARN>/*`). */
export const OBJECT_KEYS_REASON =
  'S3 object permissions can only be granted on object ARNs, so reads and writes of a bucket of the ' +
  'catalog are granted on `<bucket ARN>/*` of that one bucket (never another bucket, never `*`), ' +
  'with the object actions named one by one.';

/** ARN pattern of every OAuth app client secret (Secrets Manager appends a random suffix to names). */
export function oauthSecretsArnPattern(scope: Construct, oauthSecretPrefix: string): string {
  return Stack.of(scope).formatArn({
    service: 'secretsmanager',
    resource: 'secret',
    resourceName: `${oauthSecretPrefix}*`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/** Adds the least-privilege policy for one grant to `role`. */
export function grant(role: iam.Role, g: Grant, t: GrantTargets): void {
  if (isQueueSend(g)) {
    // SendMessage (+ batch), GetQueueAttributes, GetQueueUrl on this queue only. The queue uses
    // SQS-managed SSE, so no KMS permission is needed.
    t.queues[grantQueue(g)!].queue.grantSendMessages(role);
    return;
  }
  if (isBucketGrant(g)) {
    const { bucket } = t.buckets[grantBucket(g)!];
    const reads = g.endsWith(':read');
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: reads ? OBJECT_READ_ACTIONS : OBJECT_WRITE_ACTIONS,
        resources: [bucket.arnForObjects('*')],
      }),
    );
    // Without ListBucket, S3 answers a HeadObject or GetObject of a missing key with 403 instead of
    // 404, and a missing upload could not be told from a denied one. Bucket ARN only, no action on
    // the bucket's configuration or policy.
    if (reads) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }),
      );
    }
    acknowledgeObjectKeys(role, bucket);
    return;
  }
  switch (g) {
    case 'queue:deliveries-dlq:send':
      t.queues.deliveries.dlq.grantSendMessages(role);
      return;
    case 'queue:dlqs:read-attributes':
      // The depth of every DLQ (the operators' status view): GetQueueAttributes only, each DLQ by ARN.
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['sqs:GetQueueAttributes'],
          resources: Object.values(t.queues).map((q) => q.dlq.queueArn),
        }),
      );
      return;
    case 'table:scan':
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['dynamodb:Scan'], resources: [t.table.tableArn] }),
      );
      return;
    case 'table:read':
    case 'table:write': {
      const { tableArn } = t.table;
      const reads = g === 'table:read';
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: reads ? TABLE_READ_ACTIONS : TABLE_WRITE_ACTIONS,
          // Indexes are named one by one (no `index/*` wildcard); they only serve queries.
          resources: reads ? [tableArn, ...t.indexNames.map((n) => `${tableArn}/index/${n}`)] : [tableArn],
        }),
      );
      // The audit log is append-only: no function may change or remove an entry once written
      // (items whose partition key starts with APPEND_ONLY_PREFIX). An explicit Deny wins over
      // any Allow; TransactWriteItems is authorized per item, so it is covered as well.
      if (!reads) {
        role.addToPrincipalPolicy(
          new iam.PolicyStatement({
            effect: iam.Effect.DENY,
            actions: APPEND_ONLY_DENIED_ACTIONS,
            resources: [tableArn],
            conditions: { 'ForAnyValue:StringLike': { 'dynamodb:LeadingKeys': [`${APPEND_ONLY_PREFIX}*`] } },
          }),
        );
      }
      return;
    }
    case 'secrets:keys:read':
      t.keysSecret.grantRead(role);
      return;
    case 'secrets:oauth:read': {
      const pattern = oauthSecretsArnPattern(role, t.oauthSecretPrefix);
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [pattern] }),
      );
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${t.oauthSecretPrefix}*]`,
        reason:
          'OAuth app client secrets are created by operators, one per provider, outside this stack, and ' +
          'Secrets Manager appends a random suffix to every secret ARN, so read access is scoped by the ' +
          'name prefix; GetSecretValue only.',
      });
      return;
    }
    default:
      throw new Error(`Unknown grant: ${g satisfies never}`);
  }
}

/** Environment variables that come with a grant (bound together so neither exists without the other). */
export function grantEnvironment(g: Grant, t: GrantTargets): Record<string, string> {
  if (g === 'queue:deliveries-dlq:send') return { DELIVERY_DLQ_URL: t.queues.deliveries.dlq.queueUrl };
  if (g === 'queue:dlqs:read-attributes') {
    return {
      DLQ_URLS: dlqUrlsSetting(
        Object.fromEntries(Object.entries(t.queues).map(([id, q]) => [id, q.dlq.queueUrl])) as Record<
          QueueId,
          string
        >,
      ),
    };
  }
  const bucketId = grantBucket(g);
  if (bucketId) {
    const { bucket, def } = t.buckets[bucketId];
    return { [def.nameEnv]: bucket.bucketName };
  }
  const queueId = grantQueue(g);
  if (!queueId) return {};
  const { queue, def } = t.queues[queueId];
  return { [def.urlEnv]: queue.queueUrl };
}

/** PascalCase of a label, for construct ids: `API tokens` → `APITokens`, `table:read` → `TableRead`. */
export function pascal(label: string): string {
  return label
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');
}

/**
 * Execution roles, one per (group, grant set): the routes of a feature (route tag) with equal
 * grants share one role, so the role count stays bounded by features, not routes. A role starts
 * without any managed policy; each function adds its own log-group policy (see ApiFunction).
 */
export class ExecutionRoles extends Construct {
  private readonly roles = new Map<string, iam.Role>();

  constructor(
    scope: Construct,
    id: string,
    private readonly targets: GrantTargets,
  ) {
    super(scope, id);
  }

  /** The role for `group` with exactly `grants`, created (with its policies) on first use. */
  roleFor(group: string, grants: readonly Grant[]): iam.Role {
    const set = [...new Set(grants)].sort();
    const key = `${pascal(group)}${set.length ? set.map(pascal).join('') : 'NoGrants'}`;
    let role = this.roles.get(key);
    if (!role) {
      role = new iam.Role(this, key, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `PronaFlow integrations: ${group} (${set.join(', ') || 'no grants'})`,
      });
      for (const g of set) grant(role, g, this.targets);
      // ApiFunction turns on active tracing, which adds xray:PutTraceSegments/PutTelemetryRecords on
      // `*` to this role (the infra test checks that no other statement uses a `*` resource).
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level ' +
          'permissions, so they are granted on `*` (added by Lambda active tracing).',
      });
      this.roles.set(key, role);
    }
    return role;
  }

  /** Every role created so far. */
  all(): iam.Role[] {
    return [...this.roles.values()];
  }
}

/**
 * Acknowledges AwsSolutions-IAM5 for `<bucket ARN>/*` of this one bucket on `role`. cdk-nag names
 * a granular finding after the resource as the final template spells it, so the id is built the
 * same way (see {@link nagName}).
 */
function acknowledgeObjectKeys(role: iam.Role, bucket: IBucket): void {
  Validations.of(role).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${nagName(role, bucket.bucketArn)}/*]`,
    reason: OBJECT_KEYS_REASON,
  });
}

/**
 * How cdk-nag spells `value` in a finding id of `scope`'s stack: a root attribute seen from a
 * nested stack is the parameter CDK creates for it at synth (`referenceto<unique id><attribute>`),
 * anything else its resolved form (`<LogicalId.Arn>`, `<Ref>`, joins flattened).
 */
function nagName(scope: Construct, value: string): string {
  const token = Tokenization.reverseString(value).firstToken;
  if (token instanceof Reference && Stack.of(token.target) !== Stack.of(scope)) {
    return `<referenceto${Names.nodeUniqueId(token.target.node)}${token.displayName}>`;
  }
  return flatten(Stack.of(scope).resolve(value));
}

/** A resolved CloudFormation value as cdk-nag spells it in finding ids (Ref, GetAtt, Join). */
function flatten(node: unknown): string {
  if (typeof node === 'string') return node;
  const o = node as { Ref?: unknown; 'Fn::GetAtt'?: [unknown, unknown]; 'Fn::Join'?: [string, unknown[]] };
  if (o['Fn::Join']) return o['Fn::Join'][1].map(flatten).join(o['Fn::Join'][0]);
  if (o['Fn::GetAtt']) return `<${flatten(o['Fn::GetAtt'][0])}.${flatten(o['Fn::GetAtt'][1])}>`;
  if (o.Ref !== undefined) return `<${flatten(o.Ref)}>`;
  return JSON.stringify(node);
}
