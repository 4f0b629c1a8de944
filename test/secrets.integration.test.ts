import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../cli/common.js';
import { main } from '../cli/main.js';
import { LocalSecretSource, secretVariable } from '../shared/local/secrets.js';
import { SecretResolver } from '../shared/pipeline/secret-resolver.js';
import { Redactor, redactingHttp, redactingLog } from '../shared/pipeline/secrets.js';
import { type FixtureServer, startFixtureServer } from './fixtures/http-fixture.js';
import { capture } from './support/cli-io.js';

const TOKEN = 'Bearer tok-7f3a9c1e5b2d';
const COOKIE = 'ck-41d8cd98f00b204e';
const PASSWORD = 'pw-e99a18c428cb38d5';

/** Every file under `dir`, gzip members decompressed, as text. */
async function filesUnder(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const bytes = await readFile(path);
    out.set(path, (path.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('latin1'));
  }
  return out;
}

function jobYaml(origin: string): string {
  return [
    'name: vault',
    'start:',
    `  urls: [${origin}/private/1, ${origin}/private/broken]`,
    '  template: page',
    'follow:',
    '  - { selector: a.next, template: page }',
    'templates:',
    '  page: { key: title, fields: { title: h1 } }',
    'fetch:',
    '  retries: 0',
    '  request:',
    '    headers: { Authorization: { secret: vault/token }, X-Plain: visible }',
    '    cookies: { session: { secret: vault/login, key: cookie } }',
    '',
  ].join('\n');
}

describe('Secrets in request options, locally', () => {
  let server: FixtureServer;
  let dir: string;
  let jobs: string;
  let dataDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    server = await startFixtureServer();
    const authorised = (handler: (response: import('node:http').ServerResponse) => void) => {
      return (request: import('node:http').IncomingMessage, response: import('node:http').ServerResponse) => {
        if (request.headers.authorization !== TOKEN || request.headers.cookie !== `session=${COOKIE}`) {
          response.writeHead(401, { 'content-type': 'text/html' }).end('<h1>who are you?</h1>');
          return;
        }
        handler(response);
      };
    };
    server.route(
      '/private/1',
      authorised((response) =>
        response.writeHead(200, { 'content-type': 'text/html' }).end('<h1>One</h1><a class="next" href="/private/2">next</a>'),
      ),
    );
    server.route(
      '/private/2',
      authorised((response) => response.writeHead(200, { 'content-type': 'text/html' }).end('<h1>Two</h1>')),
    );
    server.route(
      '/private/broken',
      authorised((response) => response.writeHead(500, { 'content-type': 'text/html' }).end('<h1>oops</h1>')),
    );
    dir = await mkdtemp(join(tmpdir(), 'scrapeline-secrets-'));
    jobs = join(dir, 'jobs');
    dataDir = join(dir, 'data');
    await import('node:fs/promises').then((fs) => fs.mkdir(jobs));
    await writeFile(join(jobs, 'vault.yaml'), jobYaml(server.origin));
    await writeFile(
      join(jobs, 'missing.yaml'),
      [
        'name: missing',
        `start: { urls: ['${server.origin}/private/1'] }`,
        'fetch: { request: { headers: { Authorization: { secret: not/there } } } }',
        '',
      ].join('\n'),
    );
    const secretsFile = join(dir, 'secrets.json');
    await writeFile(secretsFile, JSON.stringify({ 'vault/login': { cookie: COOKIE, password: PASSWORD } }));
    env = { [secretVariable('vault/token')]: TOKEN, SCRAPELINE_SECRETS_FILE: secretsFile };
  });

  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('sends secrets from the environment and a file, and writes them nowhere: data, state, logs, archives, output', async () => {
    // Prepare
    const run = capture(env);
    const validate = capture(env);

    // Act
    const code = await main(
      ['run', 'vault', '--jobs', jobs, '--data-dir', dataDir, '--allow-address', '127.0.0.1', '--verbose'],
      run.io,
    );
    const validated = await main(['validate', '--jobs', jobs], validate.io);

    // Assess: the secrets were sent (the site answers only with them), the broken page failed
    expect(code, run.stderr()).toBe(EXIT.partial);
    expect(validated).toBe(EXIT.ok);
    const authorised = server.requests.filter((request) => request.headers.authorization === TOKEN);
    expect(authorised.map((request) => request.path).sort()).toEqual(['/private/1', '/private/2', '/private/broken']);
    const files = await filesUnder(dataDir);
    const all = [...files.values()].join('\n');
    expect(all).toContain('"title":"Two"');
    expect(all).toContain('http-500');
    // The WARC request records show the job's headers, credentials redacted.
    const warc = [...files.entries()].filter(([path]) => path.endsWith('.warc.gz')).map(([, text]) => text);
    expect(warc.join('')).toMatch(/WARC-Type: request[\s\S]*authorization: \[redacted\]/);
    expect(warc.join('')).toContain('cookie: [redacted]');
    expect(warc.join('')).toContain('x-plain: visible');
    for (const secret of [TOKEN, 'tok-7f3a9c1e5b2d', COOKIE, PASSWORD]) {
      for (const [path, text] of files) expect(text.includes(secret), `${secret} in ${path}`).toBe(false);
      expect(run.stdout() + run.stderr()).not.toContain(secret);
      expect(validate.stdout() + validate.stderr()).not.toContain(secret);
    }
  });

  it('fails the pages of a job whose secret is not set, saying where to set it', async () => {
    // Prepare
    const run = capture(env);

    // Act
    const code = await main(
      ['run', 'missing', '--jobs', jobs, '--data-dir', join(dir, 'data-missing'), '--allow-address', '127.0.0.1'],
      run.io,
    );

    // Assess: nothing was requested without the secret
    expect(code).toBe(EXIT.runFailed);
    expect(run.stdout()).toContain('secret-not-found ×1');
    const failures = [...(await filesUnder(join(dir, 'data-missing'))).entries()].filter(([path]) => path.includes('failures'));
    expect(failures.map(([, text]) => text).join('')).toContain('set the environment variable SCRAPELINE_SECRET_NOT_THERE');
  });
});

describe('Class: SecretResolver', () => {
  it('reads a value once per TTL, a JSON key of it, and redacts what it read from logs and HTTP errors', async () => {
    // Prepare
    let reads = 0;
    let now = 0;
    const source = {
      read: async (name: string) => {
        reads++;
        return name === 'json' ? JSON.stringify({ user: 'someone', password: PASSWORD }) : TOKEN;
      },
    };
    const resolver = new SecretResolver(source, { clock: { now: () => now, sleep: async () => {} }, ttlMs: 1000 });
    const lines: string[] = [];
    const log = redactingLog(
      {
        debug() {},
        info: (message, attributes) => lines.push(`${message} ${JSON.stringify(attributes)}`),
        warn() {},
        error() {},
      },
      resolver.redactor,
    );
    const http = redactingHttp(
      {
        fetchPage: async () => {
          throw new Error(`refused header ${TOKEN}`);
        },
        close: async () => {},
      },
      resolver.redactor,
    );

    // Act
    const values = await resolver.values([{ secret: 'plain' }, { secret: 'json', key: 'password' }]);
    await resolver.values([{ secret: 'plain' }]);
    now = 2000;
    await resolver.values([{ secret: 'plain' }]);
    log.info(`sent ${TOKEN}`, { nested: { value: encodeURIComponent(PASSWORD) }, list: [PASSWORD] });
    const error = await http
      .fetchPage('http://x/', { timeoutMs: 1, maxBytes: 1, maxRedirects: 0, userAgent: 'x' })
      .catch((e) => e);

    // Assess
    expect([...values.values()]).toEqual([TOKEN, PASSWORD]);
    expect(reads).toBe(3);
    expect(lines).toEqual(['sent [redacted] {"nested":{"value":"[redacted]"},"list":["[redacted]"]}']);
    expect((error as Error).message).toBe('refused header [redacted]');
  });

  it('names the secret and never its value when a JSON key is missing or the value is not JSON', async () => {
    // Prepare
    const resolver = new SecretResolver(new LocalSecretSource({ env: { [secretVariable('a')]: PASSWORD } }), {
      clock: { now: () => 0, sleep: async () => {} },
    });

    // Act
    const error = await resolver.values([{ secret: 'a', key: 'user' }]).catch((e) => e);
    const missing = await resolver.values([{ secret: 'b' }]).catch((e) => e);

    // Assess
    expect(error).toMatchObject({ reason: 'secret-invalid', retryable: false });
    expect((error as Error).message).toBe('secret "a" is not a JSON object: it has no key "user"');
    expect(missing).toMatchObject({ reason: 'secret-not-found', retryable: false });
    expect(new Redactor().redact(PASSWORD)).toBe(PASSWORD);
  });
});
