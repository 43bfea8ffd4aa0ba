import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { QueueDef } from '#shared/queue-catalog.ts';

export interface QueueWithDlqProps {
  /** The queue's row in `shared/queue-catalog.ts`. */
  def: QueueDef;
  /**
   * At least six times the consumer's timeout (plus its batching window), as AWS recommends for
   * Lambda event sources, so a message is not handed out again while a batch is still running.
   */
  visibilityTimeout: Duration;
  /** Actions of the DLQ alarm (e.g. an SNS topic for the on-call); none by default. */
  alarmActions?: cloudwatch.IAlarmAction[];
}

/**
 * A work queue with its dead-letter queue: SSE (SQS-managed keys), TLS-only access policies on
 * both, redrive after the table's `maxReceiveCount`, and an alarm as soon as the DLQ holds a
 * message.
 */
export class QueueWithDlq extends Construct {
  readonly queue: sqs.Queue;
  readonly dlq: sqs.Queue;
  readonly dlqAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: QueueWithDlqProps) {
    super(scope, id);
    const { def } = props;
    this.dlq = new sqs.Queue(this, 'Dlq', {
      retentionPeriod: Duration.days(def.dlqRetentionDays),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      visibilityTimeout: props.visibilityTimeout,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: this.dlq, maxReceiveCount: def.maxReceiveCount },
    });
    this.dlqAlarm = new cloudwatch.Alarm(this, 'DlqNotEmpty', {
      alarmDescription: `Messages of the ${def.id} queue (${def.description}) reached its dead-letter queue`,
      metric: this.dlq.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    for (const action of props.alarmActions ?? []) this.dlqAlarm.addAlarmAction(action);
  }
}
