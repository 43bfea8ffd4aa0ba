import * as z from 'zod';
import { pageQuery } from '#shared/db/pagination.ts';
import { unknownEventTypes } from './catalog.ts';
import { secretProblem } from './signing.ts';

export const retryPolicySchema = z
  .enum(['EXPONENTIAL', 'LINEAR', 'NONE'])
  .describe('EXPONENTIAL = base × 2^n with jitter; LINEAR = base × (n+1); NONE = no retry');

export const deliveryStatusSchema = z
  .enum(['PENDING', 'DELIVERED', 'FAILED', 'EXPIRED'])
  .describe(
    'PENDING until a terminal outcome: DELIVERED (2xx), FAILED (retries used up, 410, endpoint gone or disabled), EXPIRED (not done within WEBHOOK_DELIVERY_TTL_HOURS)',
  );

const eventsMap = z
  .record(z.string().max(100), z.boolean())
  .describe(
    'Event types to subscribe to, e.g. { "task.created": true }; types mapped to false are not subscribed',
  )
  .superRefine((events, ctx) => {
    const unknown = unknownEventTypes(Object.keys(events));
    for (const type of unknown) {
      ctx.addIssue({
        code: 'custom',
        path: [type],
        message: `Unknown event type "${type}" (see GET /webhooks/events)`,
      });
    }
    if (!unknown.length && !Object.values(events).some(Boolean)) {
      ctx.addIssue({ code: 'custom', message: 'Subscribe to at least one event type' });
    }
  });

const urlField = z.string().min(1).max(2048).describe('https URL that receives the POSTs');

export const createWebhookBody = z.object({
  name: z.string().trim().min(1).max(100),
  url: urlField,
  secret: z
    .string()
    .max(200)
    .superRefine((s, ctx) => {
      const problem = secretProblem(s);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional()
    .describe('A Standard Webhooks secret (whsec_ + base64 of 24–64 bytes); generated when absent'),
  events: eventsMap,
  retry_policy: retryPolicySchema.default('EXPONENTIAL'),
  description: z.string().max(500).optional(),
});
export type CreateWebhookInput = z.infer<typeof createWebhookBody>;

export const updateWebhookBody = z
  .object({
    name: z.string().trim().min(1).max(100).optional(),
    url: urlField.optional(),
    events: eventsMap.optional(),
    active: z
      .boolean()
      .optional()
      .describe('false disables the endpoint; true re-enables it and clears the failure streak'),
    retry_policy: retryPolicySchema.optional(),
    description: z.string().max(500).nullable().optional(),
  })
  .refine((b) => Object.values(b).some((v) => v !== undefined), {
    message: 'Send at least one field to change',
  });
export type UpdateWebhookInput = z.infer<typeof updateWebhookBody>;

export const webhookStatsSchema = z.object({
  last_delivery_at: z.string().nullable(),
  last_delivery_status: deliveryStatusSchema.nullable(),
  consecutive_failures: z.number().int(),
  recent: z
    .object({
      window: z.number().int().describe('How many of the latest finished deliveries were counted'),
      delivered: z.number().int(),
      failed: z.number().int(),
      expired: z.number().int(),
      success_rate: z.number().nullable().describe('delivered / window, null when nothing finished yet'),
    })
    .optional()
    .describe('Only on GET /webhooks/{id}'),
});

export const webhookSchema = z.object({
  id: z.string(),
  name: z.string(),
  url: z.string(),
  description: z.string().nullable(),
  events: z.record(z.string(), z.literal(true)),
  retry_policy: retryPolicySchema,
  active: z.boolean(),
  disabled_reason: z.string().nullable(),
  disabled_at: z.string().nullable(),
  previous_secret_expires_at: z
    .string()
    .nullable()
    .describe('While a rotated-out secret still signs alongside the current one'),
  created_at: z.string(),
  updated_at: z.string(),
  stats: webhookStatsSchema,
});
export type WebhookView = z.infer<typeof webhookSchema>;

export const createdWebhookSchema = webhookSchema.extend({
  secret: z.string().describe('The signing secret; shown here and on rotation only'),
});

export const webhookPageSchema = z.object({
  data: z.array(webhookSchema),
  next_cursor: z.string().nullable(),
});

export const rotatedSecretSchema = z.object({
  id: z.string(),
  secret: z.string().describe('The new signing secret; shown once'),
  previous_secret_expires_at: z.string().describe('Until then the old secret signs too'),
});

export const eventCatalogSchema = z.object({
  data: z.array(
    z.object({ name: z.string(), description: z.string(), example: z.record(z.string(), z.unknown()) }),
  ),
});

export const deliverySummarySchema = z.object({
  id: z.string().describe('Also the webhook-id header, stable across retries'),
  endpoint_id: z.string(),
  event_id: z.string(),
  event_type: z.string(),
  status: deliveryStatusSchema,
  attempt_count: z.number().int().describe('Attempts in the current cycle (a redelivery starts a new cycle)'),
  cycle: z.number().int(),
  created_at: z.string(),
  updated_at: z.string(),
  next_attempt_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  expires_at: z.string(),
  last_response_status: z.number().int().nullable(),
  last_error: z.string().nullable(),
});
export type DeliverySummary = z.infer<typeof deliverySummarySchema>;

export const attemptSchema = z.object({
  cycle: z.number().int(),
  attempt: z.number().int(),
  started_at: z.string(),
  duration_ms: z.number(),
  request: z.object({ url: z.string(), headers: z.record(z.string(), z.string()), body: z.string() }),
  response: z
    .object({
      status: z.number().int(),
      headers: z.record(z.string(), z.string()),
      body: z.string(),
      body_truncated: z.boolean(),
    })
    .nullable(),
  error: z.string().nullable(),
});
export type AttemptView = z.infer<typeof attemptSchema>;

export const deliveryDetailSchema = deliverySummarySchema.extend({
  payload: z.string().describe('The JSON body POSTed: { type, timestamp, data }'),
  attempts: z.array(attemptSchema).describe('The latest attempts, oldest first (bounded)'),
});

export const deliveryPageSchema = z.object({
  data: z.array(deliverySummarySchema),
  next_cursor: z.string().nullable(),
});

export const listDeliveriesQuery = pageQuery.extend({
  status: deliveryStatusSchema.optional(),
  event_type: z.string().max(100).optional(),
  since: z.iso.datetime({ offset: true }).optional().describe('Created at or after'),
  until: z.iso.datetime({ offset: true }).optional().describe('Created before'),
});

export const recoverBody = z
  .object({
    since: z.iso.datetime({ offset: true }),
    until: z.iso.datetime({ offset: true }).optional(),
  })
  .refine((b) => !b.until || Date.parse(b.until) > Date.parse(b.since), {
    message: 'until must be after since',
    path: ['until'],
  });

export const recoverAcceptedSchema = z.object({
  endpoint_id: z.string(),
  since: z.string(),
  until: z.string(),
  status: z.literal('accepted'),
});
