/**
 * The CDK app: one env-agnostic root stack holding a nested stack per feature of the registry
 * (functions/features.ts), checked by cdk-nag (AwsSolutions) during synth. `cdk.json`
 * runs this file (`npx tsx infra/app.ts`); tests call {@link buildApp} and synthesize themselves.
 *
 * Context (`npx cdk synth -c key=value`):
 * - `eventSourcePrincipalArns`: comma-separated IAM principal ARNs allowed to send to the ingest queue;
 * - `authJwksUrl`, `authJwtIssuer`, `authJwtAudience`: session JWT verification;
 * - `oauthAppsFile`: a JSON file of OAuth apps (validated at synth, shipped in the OAuth functions);
 * - `oauthCompleteUrl`: the PronaFlow page that finishes OAuth connections (https);
 * - `publicBaseUrl`: the API's public base URL when a custom domain fronts it (OAuth redirects);
 * - `allowLoopbackTargets`: refused when true (local-only setting);
 * - `stage`: stage name in resource names and tags (default `dev`);
 * - `alarmEmails`, `alarmHttpsEndpoints`: comma-separated subscribers of the alarm topic;
 *   `alarmTopicArn`: an existing topic to notify instead;
 * - `logRetentionDays`: retention of every log group (a CloudWatch Logs value, default 30);
 * - `customDomainName` + `customDomainCertificateArn`: the API's custom domain (both or neither).
 * Every value is validated at synth (see infra/constructs/monitoring.ts), naming the key.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { App, type AppProps, Tags, Validations } from 'aws-cdk-lib';
import { ArnPrincipal } from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RootStack, type RootStackProps, STACK_NAME } from './root-stack.ts';

export interface BuildAppOptions {
  /** Cloud assembly directory. @default CDK_OUTDIR (set by the CLI) or a temporary directory */
  outdir?: string;
  /**
   * Extra context, on top of cdk.json's feature flags; e.g. `{ 'aws:cdk:bundling-stacks': [] }`
   * skips esbuild bundling for template-only tests.
   */
  context?: Record<string, unknown>;
  /** Stack props overriding those read from context. */
  stackProps?: Partial<RootStackProps>;
}

/** The feature flags of cdk.json, so tests synthesize with exactly the CLI's flags. */
function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(new URL('../cdk.json', import.meta.url), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

function stringContext(app: App, key: string): string | undefined {
  const v: unknown = app.node.tryGetContext(key);
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

/** An account root, role or user ARN (what a queue policy's `Principal.AWS` takes). */
const PRINCIPAL_ARN = /^arn:aws[a-z-]*:iam::\d{12}:(root|role\/[\w+=,.@/-]+|user\/[\w+=,.@/-]+)$/;

function listContext(app: App, key: string): string[] | undefined {
  return stringContext(app, key)
    ?.split(',')
    .map((a) => a.trim())
    .filter(Boolean);
}

function propsFromContext(app: App): RootStackProps {
  const arns = stringContext(app, 'eventSourcePrincipalArns');
  const loopback: unknown = app.node.tryGetContext('allowLoopbackTargets');
  const retention: unknown = app.node.tryGetContext('logRetentionDays');
  let logRetentionDays: number | undefined;
  if (retention !== undefined && retention !== '') {
    logRetentionDays = Number(retention);
    if (!Number.isInteger(logRetentionDays)) {
      throw new Error(
        `logRetentionDays (context "logRetentionDays") must be a whole number of days; got ${JSON.stringify(retention)}`,
      );
    }
  }
  const domainName = stringContext(app, 'customDomainName');
  const certificateArn = stringContext(app, 'customDomainCertificateArn');
  if ((domainName === undefined) !== (certificateArn === undefined)) {
    throw new Error(
      'customDomainName and customDomainCertificateArn go together: give both context keys or neither',
    );
  }
  const emails = listContext(app, 'alarmEmails');
  const httpsEndpoints = listContext(app, 'alarmHttpsEndpoints');
  const topicArn = stringContext(app, 'alarmTopicArn');
  return {
    stage: stringContext(app, 'stage'),
    alarmSubscribers:
      emails || httpsEndpoints || topicArn
        ? {
            ...(emails ? { emails } : {}),
            ...(httpsEndpoints ? { httpsEndpoints } : {}),
            ...(topicArn ? { topicArn } : {}),
          }
        : undefined,
    logRetentionDays,
    customDomain: domainName && certificateArn ? { domainName, certificateArn } : undefined,
    eventSourcePrincipals: arns
      ?.split(',')
      .map((a) => a.trim())
      .filter(Boolean)
      .map((arn) => {
        if (!PRINCIPAL_ARN.test(arn)) {
          throw new Error(
            `eventSourcePrincipalArns (context "eventSourcePrincipalArns"): not an IAM account, role or user ARN: ${JSON.stringify(arn)}`,
          );
        }
        return new ArnPrincipal(arn);
      }),
    authJwksUrl: stringContext(app, 'authJwksUrl'),
    authJwtIssuer: stringContext(app, 'authJwtIssuer'),
    authJwtAudience: stringContext(app, 'authJwtAudience'),
    publicBaseUrl: stringContext(app, 'publicBaseUrl'),
    oauthAppsFile: stringContext(app, 'oauthAppsFile'),
    oauthCompleteUrl: stringContext(app, 'oauthCompleteUrl'),
    allowLoopbackTargets: loopback === true || loopback === 'true',
  };
}

/** Builds the app with its root stack and the cdk-nag AwsSolutions checks (they run at synth). */
export function buildApp(options: BuildAppOptions = {}): { app: App; stack: RootStack } {
  const appProps: AppProps = {
    context: { ...cdkJsonContext(), ...options.context },
    ...(options.outdir ? { outdir: options.outdir } : {}),
  };
  const app = new App(appProps);
  const fromContext = propsFromContext(app);
  const stack = new RootStack(app, STACK_NAME, {
    description:
      'PronaFlow Integration Ecosystem: API tokens, webhooks, OAuth connections, sync bindings, plugins, consents',
    ...Object.fromEntries(Object.entries(fromContext).filter(([, v]) => v !== undefined)),
    ...options.stackProps,
  });
  Tags.of(app).add('service', 'pronaflow-integrations');
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  buildApp().app.synth();
}
