import { fileURLToPath } from 'node:url';
import { CustomResource, Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { ApiFunction } from '../api-function.ts';

export interface KeyringInitializerProps {
  /** The data-key secret (`<SECRETS_PREFIX>keys`). */
  secret: ISecret;
  /** Execution role of the initializer function (gets read/write on the secret only). */
  role: iam.Role;
}

/**
 * Fills the data-key secret with a keyring in the format of shared/crypto.ts on the first deploy
 * (a custom resource backed by `keyring/init-handler.ts`); later deploys keep the existing keyring.
 */
export class KeyringInitializer extends Construct {
  readonly function: ApiFunction;

  constructor(scope: Construct, id: string, props: KeyringInitializerProps) {
    super(scope, id);
    this.function = new ApiFunction(this, 'Function', {
      entry: fileURLToPath(new URL('./init-handler.ts', import.meta.url)),
      role: props.role,
      description: 'Deploy-time: writes the initial data-key keyring into the keys secret',
      timeout: Duration.seconds(30),
      environment: { NODE_ENV: 'production' },
    });
    props.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue'],
        resources: [props.secret.secretArn],
      }),
    );
    new CustomResource(this, 'Keyring', {
      resourceType: 'Custom::DataKeyring',
      serviceToken: this.function.functionArn,
      properties: { SecretId: props.secret.secretArn },
    });
  }
}
