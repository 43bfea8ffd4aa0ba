import * as v from 'valibot';
import { ServiceUnavailableError } from '#shared/errors.ts';
import { logger } from '#shared/logger.ts';
import { secrets } from '#shared/secrets.ts';
import { check } from '#shared/validation.ts';

const clientCredentialsSchema = v.object({
  client_id: v.pipe(v.string(), v.minLength(1)),
  client_secret: v.pipe(v.string(), v.minLength(1)),
});
export type ClientCredentials = v.InferOutput<typeof clientCredentialsSchema>;

/** Name of the secret holding an app's client credentials (relative to SECRETS_PREFIX). */
export const credentialsSecretName = (appId: string) => `oauth/${appId}`;

/**
 * An app's client credentials from the secret `oauth/<app_id>` (Secrets Manager in AWS, cached by
 * the secret source; the local secret file locally). A missing or malformed secret is an operator
 * problem: 503 naming the app, never the secret's content.
 */
export async function clientCredentials(appId: string): Promise<ClientCredentials> {
  const raw = await secrets().get(credentialsSecretName(appId));
  const unavailable = () =>
    new ServiceUnavailableError(
      `The OAuth app '${appId}' has no client credentials configured yet; an operator must store them.`,
      { extra: { oauth_app_id: appId } },
    );
  if (!raw) throw unavailable();
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  const result = check(clientCredentialsSchema, parsed);
  if (!result.success) {
    logger.error('oauth client credentials secret is malformed', { oauth_app_id: appId });
    throw unavailable();
  }
  return result.data;
}
