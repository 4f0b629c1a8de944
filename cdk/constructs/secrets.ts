import type * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { secretNamesOf } from '../../shared/job/secrets.js';
import { PropsValidator } from './validation.js';

/** Properties of {@link JobSecrets}. */
export interface JobSecretsProps {
  /** The jobs of the stack: every secret they name (`{ secret: name }`, `store: ssm` for a parameter) is granted. */
  readonly jobs: readonly unknown[];
  /** Who reads them: the function that fetches (headers, cookies, proxies and logins are the fetcher's). */
  readonly grantee: iam.IGrantable;
}

/**
 * Read access to exactly the secrets the jobs name, and to nothing else: each Secrets Manager secret by its name
 * (`secretsmanager:GetSecretValue` on `secret:<name>-??????`), each SSM parameter by its ARN (a SecureString under
 * the account's default `aws/ssm` key; a parameter under a key of its own also needs `kms:Decrypt` on that key).
 * The secrets themselves are not created: they are the operator's, set outside the stack.
 */
export class JobSecrets extends Construct {
  /** The Secrets Manager secrets granted, by name. */
  readonly secrets: ReadonlyMap<string, secretsmanager.ISecret>;
  /** The SSM parameters granted, by name. */
  readonly parameters: ReadonlyMap<string, ssm.IParameter>;

  constructor(scope: Construct, id: string, props: JobSecretsProps) {
    super(scope, id);
    const validator = new PropsValidator(`JobSecrets (${id})`);
    validator.check(props.grantee !== undefined, 'grantee is required');
    validator.throwIfInvalid();
    const names = secretNamesOf(props.jobs);
    const secrets = new Map<string, secretsmanager.ISecret>();
    names['secrets-manager'].forEach((name, index) => {
      const secret = secretsmanager.Secret.fromSecretNameV2(this, `Secret${index}`, name);
      secret.grantRead(props.grantee);
      secrets.set(name, secret);
    });
    const parameters = new Map<string, ssm.IParameter>();
    names.ssm.forEach((name, index) => {
      const parameter = ssm.StringParameter.fromSecureStringParameterAttributes(this, `Parameter${index}`, {
        parameterName: name,
      });
      parameter.grantRead(props.grantee);
      parameters.set(name, parameter);
    });
    this.secrets = secrets;
    this.parameters = parameters;
  }
}
