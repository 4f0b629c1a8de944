import { describe, expect, it } from 'vitest';
import { httpStatusError } from '../../../shared/fetch/errors.js';
import type { FetchedPage } from '../../../shared/fetch/http.js';
import { PLAIN_GET } from '../../../shared/fetch/request.js';
import type { SessionSpec } from '../../../shared/job/schema.js';
import { showsLoggedOut, withSession } from '../../../shared/pipeline/sessions.js';

const SPEC: SessionSpec = {
  login: { url: 'https://shop.example/login', fields: {} },
  success: { cookie: 'sid' },
  loggedOut: { status: [401, 403], urlPattern: '/login', pattern: 'Please sign in' },
};

function page(finalUrl: string, body: string, status = 200): { page: FetchedPage } {
  return {
    page: {
      url: 'https://shop.example/a',
      finalUrl,
      status,
      headers: { 'content-type': 'text/html; charset=utf-8' },
      body: Buffer.from(body),
      wireBytes: 0,
      redirects: [],
      startedAt: 0,
      durationMs: 0,
    },
  };
}

describe('Function: showsLoggedOut', () => {
  it('sees a status (answered or thrown), a URL after redirects or a pattern in the page', () => {
    // Assess
    expect(showsLoggedOut(SPEC, { error: httpStatusError(401, 'https://shop.example/a', undefined) })).toBe(true);
    expect(showsLoggedOut(SPEC, { error: httpStatusError(404, 'https://shop.example/a', undefined) })).toBe(false);
    expect(showsLoggedOut(SPEC, { error: new Error('network') })).toBe(false);
    expect(showsLoggedOut(SPEC, page('https://shop.example/login?next=/a', ''))).toBe(true);
    expect(showsLoggedOut(SPEC, page('https://shop.example/a', '<p>Please sign in</p>'))).toBe(true);
    expect(showsLoggedOut(SPEC, page('https://shop.example/a', '<p>Welcome back</p>'))).toBe(false);
  });
});

describe('Function: withSession', () => {
  it("adds the session's cookies over the job's of the same name, and its generation", () => {
    // Prepare
    const request = { ...PLAIN_GET, headers: { cookie: 'consent=yes; sid=old', 'x-a': '1' } };

    // Act
    const sent = withSession(request, { generation: 3, host: 'shop.example', cookies: { sid: 'new', csrf: 't' } });

    // Assess
    expect(sent.headers).toEqual({ cookie: 'consent=yes; sid=new; csrf=t', 'x-a': '1' });
    expect(sent.session).toBe(3);
  });
});
