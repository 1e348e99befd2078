// A real OpenID Connect provider (panva's certified oidc-provider) for Portico's tests of the
// external-provider mode (docs/smart.md, "External OpenID Connect provider"). It issues RS256
// JWT access tokens (RFC 9068) to confidential clients through client_credentials, with the
// audience taken from the resource indicator (RFC 8707), SMART scopes, and the SMART launch
// claims `patient` and `fhirUser` of the client.
//
//   node provider.mjs --port 0 [--host 127.0.0.1] [--keys FILE [--new-key]]
//
// --port 0 picks a free port. --keys keeps the private signing keys in FILE (created when
// missing) so that a restart on the same port is the same provider; --new-key then puts a
// freshly generated key first (it signs from now on, the old ones stay in the JWKS): a key
// rotation. Without --keys every start has a new key.
//
// When listening it prints one JSON line on stdout: {"issuer": "...", "kids": [...]}. It exits
// when stdin closes, so a test process that dies takes it along.
//
// Clients (client_secret_basic, secret = "secret-" + client_id). Each may ask for any
// resource (the token's aud) and gets the requested scopes that its smart_scope allows:
//   system      system/Patient.read system/Observation.rs   (no launch context)
//   admin       system/*.cruds                               (to load test data)
//   patient-p1  patient/*.rs, patient = p1, fhirUser = Patient/p1
//   short       like patient-p1, but its tokens live 2 seconds
//   scp         like patient-p1, but the scopes are a `scp` array and no `scope` claim
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = process.argv[i + 1];
  return v === undefined || v.startsWith('--') ? true : v;
}

const host = arg('host', '127.0.0.1');
const port = Number(arg('port', '0'));
const keysFile = arg('keys', undefined);

function newKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: crypto.randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' };
}

let keys;
if (keysFile && fs.existsSync(keysFile)) {
  keys = JSON.parse(fs.readFileSync(keysFile, 'utf8')).keys;
  if (arg('new-key', false)) keys = [newKey(), ...keys];
} else {
  keys = [newKey()];
}
if (keysFile) fs.writeFileSync(keysFile, JSON.stringify({ keys }), { mode: 0o600 });
// Progress on stderr: a test that waits too long for the issuer line shows where it stopped.
process.stderr.write(`provider.mjs: ${keys.length} key(s) ready\n`);

const patientScope = 'patient/*.rs patient/*.read launch/patient openid fhirUser';
const clients = [
  { client_id: 'system', smart_scope: 'system/Patient.read system/Observation.rs' },
  { client_id: 'admin', smart_scope: 'system/*.cruds' },
  { client_id: 'patient-p1', smart_scope: patientScope, patient: 'p1', fhir_user: 'Patient/p1' },
  { client_id: 'short', smart_scope: patientScope, patient: 'p1', fhir_user: 'Patient/p1' },
  { client_id: 'scp', smart_scope: patientScope, patient: 'p1', fhir_user: 'Patient/p1' },
].map((c) => ({
  ...c,
  client_secret: `secret-${c.client_id}`,
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_basic',
}));

// The HTTP server listens first so that --port 0 knows its port before the issuer is fixed.
const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, host, resolve);
});
const issuer = `http://${host}:${server.address().port}`;
process.stderr.write(`provider.mjs: listening on ${issuer}\n`);

const provider = new Provider(issuer, {
  clients,
  jwks: { keys },
  extraClientMetadata: {
    properties: ['smart_scope', 'patient', 'fhir_user'],
    validator(ctx, key, value) {
      if (value !== undefined && typeof value !== 'string') throw new Error(`${key} must be a string`);
    },
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Every resource URL is accepted: the tests ask for Portico's base URL, and for another
      // one to get a token with the wrong audience.
      async getResourceServerInfo(ctx, resourceIndicator, client) {
        return {
          scope: client.smart_scope,
          audience: resourceIndicator,
          accessTokenTTL: client.clientId === 'short' ? 2 : 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  async extraTokenClaims(ctx, token) {
    const client = ctx.oidc.client ?? (await ctx.oidc.provider.Client.find(token.clientId));
    if (!client) return undefined;
    const claims = {};
    if (client.patient) claims.patient = client.patient;
    if (client.fhir_user) claims.fhirUser = client.fhir_user;
    if (client.clientId === 'scp' && token.scope) {
      claims.scp = token.scope.split(' ');
    }
    return claims;
  },
  // The `scp` client's tokens carry their scopes as an array only.
  formats: {
    customizers: {
      async jwt(ctx, token, jwt) {
        if (token.clientId === 'scp') delete jwt.payload.scope;
      },
    },
  },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

server.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ issuer, kids: keys.map((k) => k.kid) })}\n`);

process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
