import type { GetSecretValueCommandOutput, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { GetParameterCommandOutput, SSMClient } from '@aws-sdk/client-ssm';
import type { SecretStore } from '../job/secrets.js';
import { SecretError, type SecretSource } from '../pipeline/secrets.js';
import { type AwsClientsOptions, clientConfig } from './client-config.js';

/**
 * Secrets on AWS: Secrets Manager secrets and SSM parameters (SecureStrings decrypted). The SDK packages are loaded
 * when the first secret is read, so that functions whose jobs name none load nothing more at cold start.
 */

/** Errors that trying again cannot fix: the secret is missing, or the function may not read it. */
const NOT_FOUND = new Set(['ResourceNotFoundException', 'ParameterNotFound', 'ParameterVersionNotFound']);
const DENIED = new Set(['AccessDeniedException', 'AccessDenied', 'UnrecognizedClientException', 'DecryptionFailure']);

/** Options of {@link AwsSecretSource}. */
export interface AwsSecretSourceOptions extends Pick<AwsClientsOptions, 'region' | 'credentials' | 'maxAttempts'> {
  /** Clients to use instead of creating them (tests). @default created on first use */
  readonly clients?: {
    readonly secretsManager?: Pick<SecretsManagerClient, 'send'>;
    readonly ssm?: Pick<SSMClient, 'send'>;
  };
}

function classify(error: unknown, name: string, store: SecretStore): SecretError {
  const code = (error as { name?: string }).name ?? 'Error';
  const where = store === 'ssm' ? `SSM parameter "${name}"` : `Secrets Manager secret "${name}"`;
  if (NOT_FOUND.has(code)) return new SecretError(`${where} does not exist (${code})`, 'secret-not-found', { retryable: false });
  if (DENIED.has(code)) {
    return new SecretError(
      `${where} cannot be read by this function (${code}): is it named by a job of the stack?`,
      'secret-denied',
      {
        retryable: false,
      },
    );
  }
  return new SecretError(`${where} could not be read: ${code}`, 'secret-unavailable', { retryable: true, cause: error });
}

/** Reads secrets from Secrets Manager and SSM Parameter Store. */
export class AwsSecretSource implements SecretSource {
  readonly #options: AwsSecretSourceOptions;
  #secretsManager: Promise<Pick<SecretsManagerClient, 'send'>> | undefined;
  #ssm: Promise<Pick<SSMClient, 'send'>> | undefined;

  constructor(options: AwsSecretSourceOptions = {}) {
    this.#options = options;
  }

  async read(name: string, store: SecretStore): Promise<string> {
    try {
      if (store === 'ssm') {
        const [client, { GetParameterCommand }] = await Promise.all([this.#ssmClient(), import('@aws-sdk/client-ssm')]);
        const output: GetParameterCommandOutput = await client.send(
          new GetParameterCommand({ Name: name, WithDecryption: true }),
        );
        const value = output.Parameter?.Value;
        if (value === undefined)
          throw new SecretError(`SSM parameter "${name}" has no value`, 'secret-invalid', { retryable: false });
        return value;
      }
      const [client, { GetSecretValueCommand }] = await Promise.all([
        this.#secretsManagerClient(),
        import('@aws-sdk/client-secrets-manager'),
      ]);
      const output: GetSecretValueCommandOutput = await client.send(new GetSecretValueCommand({ SecretId: name }));
      if (output.SecretString !== undefined) return output.SecretString;
      if (output.SecretBinary !== undefined) return Buffer.from(output.SecretBinary).toString('utf8');
      throw new SecretError(`Secrets Manager secret "${name}" has no value`, 'secret-invalid', { retryable: false });
    } catch (error) {
      if (error instanceof SecretError) throw error;
      throw classify(error, name, store);
    }
  }

  #config(): AwsClientsOptions {
    const { region, credentials, maxAttempts } = this.#options;
    return {
      ...(region === undefined ? {} : { region }),
      ...(credentials === undefined ? {} : { credentials }),
      ...(maxAttempts === undefined ? {} : { maxAttempts }),
    };
  }

  #secretsManagerClient(): Promise<Pick<SecretsManagerClient, 'send'>> {
    const given = this.#options.clients?.secretsManager;
    this.#secretsManager ??= given
      ? Promise.resolve(given)
      : import('@aws-sdk/client-secrets-manager').then(
          ({ SecretsManagerClient }) => new SecretsManagerClient(clientConfig('secretsmanager', this.#config())),
        );
    return this.#secretsManager;
  }

  #ssmClient(): Promise<Pick<SSMClient, 'send'>> {
    const given = this.#options.clients?.ssm;
    this.#ssm ??= given
      ? Promise.resolve(given)
      : import('@aws-sdk/client-ssm').then(({ SSMClient }) => new SSMClient(clientConfig('ssm', this.#config())));
    return this.#ssm;
  }
}
