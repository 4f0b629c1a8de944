'use strict';
/**
 * What the functions use of undici (shared/fetch/http.ts, shared/fetch/ssrf.ts, shared/fetch/proxy.ts), without the
 * rest of it (fetch, WebSocket, caches, mocks: about half of its 520 KB): its own Agent, Pool, ProxyAgent, connector
 * and request API, the same
 * modules the package exports. Bundles alias `undici` to this file (cdk/bundling/options.ts); tests and the CLI use
 * the package itself, and test/cdk/bundling.test.ts checks that this file serves http.ts the same way.
 */
const Agent = require('../../node_modules/undici/lib/dispatcher/agent.js');
const Pool = require('../../node_modules/undici/lib/dispatcher/pool.js');
const ProxyAgent = require('../../node_modules/undici/lib/dispatcher/proxy-agent.js');
const buildConnector = require('../../node_modules/undici/lib/core/connect.js');
const apiRequest = require('../../node_modules/undici/lib/api/api-request.js');
const apiConnect = require('../../node_modules/undici/lib/api/api-connect.js');
const Dispatcher = require('../../node_modules/undici/lib/dispatcher/dispatcher.js');
const { InvalidArgumentError } = require('../../node_modules/undici/lib/core/errors.js');
const util = require('../../node_modules/undici/lib/core/util.js');

/**
 * `undici.request`, as the package builds it (`makeDispatcher(api.request)` in its index.js), except that the
 * dispatcher must be given: a bundle has no global dispatcher.
 */
function request(url, opts) {
  if (!url || (typeof url !== 'string' && typeof url !== 'object')) throw new InvalidArgumentError('invalid url');
  if (opts == null || typeof opts !== 'object') throw new InvalidArgumentError('invalid opts');
  if (!opts.dispatcher) throw new InvalidArgumentError('a dispatcher is required (bundled undici has no global one)');
  let target = url;
  if (opts.path != null) {
    if (typeof opts.path !== 'string') throw new InvalidArgumentError('invalid opts.path');
    target = new URL(util.parseOrigin(url).origin + (opts.path.startsWith('/') ? opts.path : `/${opts.path}`));
  } else {
    target = util.parseURL(url);
  }
  return apiRequest.call(opts.dispatcher, {
    ...opts,
    origin: target.origin,
    path: target.search ? `${target.pathname}${target.search}` : target.pathname,
    method: opts.method || (opts.body ? 'PUT' : 'GET'),
  });
}

// ProxyAgent opens its tunnels with `connect` on a client of the proxy: the package puts its API methods on every
// dispatcher (`Object.assign(Dispatcher.prototype, api)` in its index.js); a proxy needs only this one.
Dispatcher.prototype.connect = apiConnect;

module.exports = { Agent, Pool, ProxyAgent, buildConnector, request };
