'use strict';
/** HTTP load on the app: autocannon POST /graphql, rotating bearer tokens to stay under their rate limit. */

const { OPS_PER_ACCOUNT } = require('./graphql');

/**
 * `connections` connections for `seconds`; request i goes out with tokens[i % n] and the body `body(i)` (or
 * the fixed string `body`). Stops early (`capped`) rather than let a token pass `perToken` requests
 * (default OPS_PER_ACCOUNT, the staff budget; partner tokens have their own). No tokens: no Authorization
 * header and no cap (a baseline server). `path` defaults to /graphql.
 * Resolves to { r: autocannon's result, graphqlErrors, errorSamples, capped }.
 */
function cannon(url, tokens, seconds, { connections, body, perToken = OPS_PER_ACCOUNT, path = '/graphql' }) {
  const autocannon = require('autocannon');
  let next = 0;
  const errorSamples = [];
  let graphqlErrors = 0;
  const cap = tokens.length ? tokens.length * perToken : Infinity;
  const bodyOf = typeof body === 'function' ? body : () => body;
  const opts = {
    url,
    connections,
    duration: seconds,
    // A slow response is a latency to report, not a socket error: wait well past the run (default 10 s).
    timeout: Math.max(30, seconds * 3),
    // Never let one account pass its per-minute budget: the run stops early rather than hit RATE_LIMITED.
    ...(tokens.length ? { maxOverallRequests: Math.max(cap, connections) } : {}),
    requests: [
      {
        method: 'POST',
        path,
        headers: { 'content-type': 'application/json' },
        body: bodyOf(0),
        setupRequest(req) {
          const i = next++;
          if (!tokens.length) return { ...req, body: bodyOf(i) };
          const token = tokens[i % tokens.length];
          return { ...req, body: bodyOf(i), headers: { ...req.headers, authorization: `Bearer ${token}` } };
        },
        onResponse(status, resBody) {
          if (status === 200 && !resBody.includes('"errors"')) return;
          if (status === 200) graphqlErrors += 1;
          if (errorSamples.length < 3) errorSamples.push(`${status}: ${String(resBody).slice(0, 300)}`);
        },
      },
    ],
  };
  return autocannon(opts).then((r) => {
    if (r.timeouts) errorSamples.push(`${r.timeouts} timeout(s): no response within ${opts.timeout} s`);
    return { r, graphqlErrors, errorSamples, capped: r.requests.total >= cap };
  });
}

module.exports = { cannon };
