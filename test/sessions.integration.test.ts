import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from '../cli/common.js';
import { main } from '../cli/main.js';
import { formBody, loginForm, readForms } from '../shared/fetch/forms.js';
import { parseJob } from '../shared/job/load.js';
import type { Job } from '../shared/job/schema.js';
import { layout } from '../shared/layout.js';
import { LocalSecretSource, secretVariable } from '../shared/local/secrets.js';
import { type FixtureServer, startFixtureServer } from './fixtures/http-fixture.js';
import { capture } from './support/cli-io.js';
import { startForwardProxy } from './support/forward-proxy.js';
import { tempRuntime } from './support/local-run.js';
import { expectManifestInvariant } from './support/manifest.js';

const PASSWORD = 'lp-9d2c41aa07e3';
const ITEMS = 8;

/**
 * A members' area: `/login` serves a form whose hidden CSRF token is tied to a `pre` cookie; a POST with that token,
 * user `crawler` and the password sets `sid` and redirects to `/account`. Pages without a live `sid` redirect to
 * `/login`. A session serves `pagesPerSession` pages, then it is gone (the site logged the crawler out).
 */
class MembersSite {
  readonly logins: { csrf: string | undefined; expected: string | undefined; ok: boolean }[] = [];
  readonly pageRequests: string[] = [];
  robotsFetchedBeforeLogin = false;
  #csrf = new Map<string, string>();
  #sessions = new Map<string, number>();
  #robotsFetched = false;

  constructor(
    server: FixtureServer,
    private readonly pagesPerSession: number,
    robots = 'User-agent: *\nAllow: /\n',
  ) {
    server.route('/robots.txt', (_request, response) => {
      this.#robotsFetched = true;
      response.writeHead(200, { 'content-type': 'text/plain' }).end(robots);
    });
    server.route('/login', (request, response) => this.#login(request, response));
    server.route('/account', (request, response) =>
      this.#members(request, response, `<h1>Account</h1><a href="/logout">Log out</a>${this.#links()}`),
    );
    for (let n = 1; n <= ITEMS; n++) {
      server.route(`/items/${n}`, (request, response) => this.#members(request, response, `<h1>Item ${n}</h1>`));
    }
  }

  #links(): string {
    return Array.from({ length: ITEMS }, (_, index) => `<a class="item" href="/items/${index + 1}">${index + 1}</a>`).join('');
  }

  #cookies(request: IncomingMessage): Map<string, string> {
    const cookies = new Map<string, string>();
    for (const pair of (request.headers.cookie ?? '').split(';')) {
      const [name, value] = pair.trim().split('=');
      if (name && value !== undefined) cookies.set(name, value);
    }
    return cookies;
  }

  #login(request: IncomingMessage, response: ServerResponse): void {
    if (request.method === 'GET') {
      this.robotsFetchedBeforeLogin ||= this.#robotsFetched;
      const pre = randomBytes(6).toString('hex');
      const csrf = randomBytes(8).toString('hex');
      this.#csrf.set(pre, csrf);
      response.writeHead(200, { 'content-type': 'text/html', 'set-cookie': `pre=${pre}; Path=/; HttpOnly` }).end(
        `<form id="search" action="/search"><input name="q"></form>
         <form id="login" method="post" action="/login">
           <input type="hidden" name="csrf" value="${csrf}">
           <input name="user" value="">
           <input type="password" name="pass">
           <input type="checkbox" name="remember" checked>
           <input type="submit" name="go" value="Sign in">
         </form>`,
      );
      return;
    }
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8');
    });
    request.on('end', () => {
      const form = new URLSearchParams(body);
      const expected = this.#csrf.get(this.#cookies(request).get('pre') ?? '');
      const ok =
        expected !== undefined &&
        form.get('csrf') === expected &&
        form.get('user') === 'crawler' &&
        form.get('pass') === PASSWORD &&
        form.get('remember') === 'on';
      this.logins.push({ csrf: form.get('csrf') ?? undefined, expected, ok });
      if (!ok) {
        response.writeHead(200, { 'content-type': 'text/html' }).end('<p>Invalid credentials</p>');
        return;
      }
      const sid = randomBytes(8).toString('hex');
      this.#sessions.set(sid, this.pagesPerSession);
      response.writeHead(302, { location: '/account', 'set-cookie': [`sid=${sid}; Path=/; HttpOnly`, 'pre=; Max-Age=0'] }).end();
    });
  }

  #members(request: IncomingMessage, response: ServerResponse, html: string): void {
    const sid = this.#cookies(request).get('sid') ?? '';
    const left = this.#sessions.get(sid) ?? 0;
    if (left <= 0) {
      response.writeHead(302, { location: '/login' }).end();
      return;
    }
    this.#sessions.set(sid, left - 1);
    this.pageRequests.push(request.url ?? '');
    response.writeHead(200, { 'content-type': 'text/html' }).end(html);
  }
}

function membersJob(name: string, origin: string): Job {
  return parseJob(
    {
      name,
      start: { urls: [`${origin}/account`], template: 'page' },
      follow: [{ selector: 'a.item', template: 'page' }],
      templates: { page: { key: 'title', fields: { title: 'h1' } } },
      politeness: { perHostConcurrency: 2 },
      fetch: { retries: 1 },
      session: {
        login: { url: `${origin}/login`, form: 'login', fields: { user: 'crawler', pass: { secret: 'members/password' } } },
        success: { cookie: 'sid', pattern: 'Log out', urlPattern: '/account$' },
        loggedOut: { urlPattern: '/login$' },
      },
    },
    `${name}.yaml`,
  );
}

async function runJob(job: Job, password: string) {
  const local = await tempRuntime([job], {}, undefined, {
    secrets: new LocalSecretSource({ env: { [secretVariable('members/password')]: password } }),
  });
  try {
    const manifest = await local.run(job.name);
    expectManifestInvariant(manifest);
    const failures = Buffer.from((await local.runtime.store.get(layout.failures(job.name, manifest.runId))) ?? [])
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { url: string; reason: string; message: string });
    const files: string[] = [];
    for (const entry of await readdir(local.dataDir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const path = join(entry.parentPath, entry.name);
      const bytes = await readFile(path);
      files.push((path.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('latin1'));
    }
    return { manifest, rows: await local.rows(manifest), failures, files };
  } finally {
    await local.dispose();
  }
}

describe('Logins and sessions', () => {
  let server: FixtureServer | undefined;

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('logs in once for the whole run, every fetcher sharing the session', async () => {
    // Prepare
    server = await startFixtureServer();
    const site = new MembersSite(server, 1000);

    // Act
    const { manifest } = await runJob(membersJob('once', server.origin), PASSWORD);

    // Assess
    expect(manifest.urls).toMatchObject({ accepted: ITEMS + 1, parsed: ITEMS + 1 });
    expect(site.logins).toHaveLength(1);
  });

  it('logs in with the CSRF token of its form, and refreshes the session when pages show logged out', async () => {
    // Prepare: a session serves 4 pages; the run needs 9
    server = await startFixtureServer();
    const site = new MembersSite(server, 4);

    // Act
    const { manifest, rows, files } = await runJob(membersJob('members', server.origin), PASSWORD);

    // Assess: every page once with its items; each login carried the token of its form; robots.txt came first
    expect(manifest.urls).toMatchObject({ accepted: ITEMS + 1, parsed: ITEMS + 1, failed: 0 });
    expect(rows.map((row) => row.title).sort()).toEqual(
      ['Account', ...Array.from({ length: ITEMS }, (_, n) => `Item ${n + 1}`)].sort(),
    );
    // Each session serves the redirect after its login and 3 pages: at least 3 logins, not one per page.
    expect(site.logins.length).toBeGreaterThanOrEqual(3);
    expect(site.logins.length).toBeLessThanOrEqual(6);
    expect(site.logins.every((login) => login.ok && login.csrf === login.expected)).toBe(true);
    expect(site.robotsFetchedBeforeLogin).toBe(true);
    // The password never written (logs, state, archives); the WARC request records show the cookie redacted.
    for (const text of files) expect(text.includes(PASSWORD)).toBe(false);
    expect(files.join('\n')).toContain('cookie: [redacted]');
  });

  it('fails the run at once with the reason when the login does not succeed, requesting none of its pages', async () => {
    // Prepare
    server = await startFixtureServer();
    const site = new MembersSite(server, 100);

    // Act
    const { manifest, failures } = await runJob(membersJob('wrong', server.origin), 'not-the-password');

    // Assess
    expect(manifest.state).toBe('failed');
    expect(manifest.reasons).toEqual({ 'login-failed': 1 });
    expect(failures[0]?.message).toMatch(
      /^the login did not succeed \(the form was sent to http:\/\/127\.0\.0\.1:\d+\/login, answer HTTP 200 at http:\/\/127\.0\.0\.1:\d+\/login\): no cookie "sid" was set; the URL http:\/\/127\.0\.0\.1:\d+\/login does not match "\/account\$"; the page does not match "Log out"$/,
    );
    expect(site.logins).toHaveLength(1);
    expect(site.pageRequests).toEqual([]);
  });

  it('applies robots.txt to the login: a disallowed login page fails the run', async () => {
    // Prepare
    server = await startFixtureServer();
    const site = new MembersSite(server, 100, 'User-agent: *\nDisallow: /login\n');

    // Act
    const { manifest, failures } = await runJob(membersJob('robots', server.origin), PASSWORD);

    // Assess
    expect(manifest.state).toBe('failed');
    expect(failures.map(({ reason, message }) => ({ reason, message }))).toEqual([
      { reason: 'login-failed', message: `robots.txt of ${server.origin} disallows the login request to ${server.origin}/login` },
    ]);
    expect(site.logins).toHaveLength(0);
  });

  it('reads forms as a browser submits them', () => {
    // Prepare
    const html = `<form name="other"><input name="a" value="1"></form>
      <form id="f" method="POST" action="/in"><input type="hidden" name="csrf" value="t&amp;k">
      <input name="user"><input type="password" name="pass"><input type="checkbox" name="x">
      <input type="radio" name="r" value="b" checked><select name="s"><option>one</option><option value="2" selected>two</option></select>
      <textarea name="t">
hi</textarea><input name="d" value="no" disabled><button name="b">go</button><input type="submit" name="go" value="Go"></form>`;

    // Act
    const forms = readForms(html);
    const form = loginForm(forms, undefined);

    // Assess
    expect(forms.map((one) => one.name ?? one.id)).toEqual(['other', 'f']);
    expect(form).toMatchObject({ id: 'f', method: 'POST', action: '/in', password: true });
    expect(formBody(form as NonNullable<typeof form>, { user: 'u', pass: 'p&q', extra: 'e' })).toBe(
      'csrf=t%26k&user=u&pass=p%26q&r=b&s=2&t=hi&extra=e',
    );
    expect(loginForm(forms, 'other')?.fields).toEqual([['a', '1']]);
  });

  it('previews a members page with extract --url: login, secrets and proxy as a run would', async () => {
    // Prepare
    server = await startFixtureServer();
    const site = new MembersSite(server, 100);
    const proxy = await startForwardProxy();
    const jobs = await mkdtemp(join(tmpdir(), 'scrapeline-preview-'));
    const { name: _name, ...input } = JSON.parse(JSON.stringify(membersJob('preview', server.origin))) as Record<string, unknown>;
    const fetch = input.fetch as Record<string, unknown>;
    await writeFile(
      join(jobs, 'preview.json'),
      JSON.stringify({ ...input, name: 'preview', fetch: { ...fetch, proxy: { urls: [proxy.url] } } }),
    );
    const extract = capture({ [secretVariable('members/password')]: PASSWORD });

    // Act
    let code: number;
    try {
      code = await main(
        ['extract', 'preview', '--jobs', jobs, '--allow-address', '127.0.0.1', '--url', `${server.origin}/items/3`],
        extract.io,
      );
    } finally {
      await proxy.close();
      await rm(jobs, { recursive: true, force: true });
    }

    // Assess
    expect(code, extract.stderr()).toBe(EXIT.ok);
    expect((JSON.parse(extract.stdout()) as { items: { data: unknown }[] }).items.map((item) => item.data)).toEqual([
      { title: 'Item 3' },
    ]);
    expect(site.logins).toEqual([expect.objectContaining({ ok: true })]);
    expect(proxy.requests.length).toBeGreaterThan(0);
    expect(extract.stdout() + extract.stderr()).not.toContain(PASSWORD);
  });
});
