'use strict';
// Fake Microsoft identity platform (login.microsoftonline.com): the
// client-credentials token endpoint, POST /{tenant}/oauth2/v2.0/token.
//
// Authentication, as Azure does it (spec/graph.md "Tokens"):
//  - client_secret: must equal the secretText of one of the app's password
//    credentials, be inside [startDateTime, endDateTime) and be older than
//    propagation_ms; an expired match gives AADSTS7000222, anything else
//    (unknown, not yet valid, not yet propagated) AADSTS7000215.
//  - client_assertion (jwt-bearer): PS256 with x5t#S256 (SHA-256 of the
//    certificate DER) or RS256 with x5t (SHA-1); the thumbprint must name a
//    certificate registered on the app; PSS salt length must equal the
//    digest length (32); aud = the exact token URL the request was sent to;
//    iss = sub = client_id; exp > now; nbf <= now + skew; exp - nbf <= 600 s;
//    jti present and never reused.
// Issued tokens are opaque and remembered in world.tokens so that the Graph
// fake can check bearers: token -> {client_id, tenant, aud, exp_ms}.
//
// The scope must be the Graph of this cloud: the fake Graph's origin +
// "/.default" (or Graph's appId + "/.default"); see checkScope.
//
// The platform's signing keys (spec/graph.md "Rich notifications"): an
// RSA-2048 key set made at start, published as a JWKS at
//   GET /common/discovery/v2.0/keys  and  GET /{tenant}/discovery/v2.0/keys
//   -> {"keys":[{"kty":"RSA","use":"sig","kid","x5t","n","e","issuer"}]}
// (n, e base64url; kid = x5t as in Microsoft's v2 keys; no x5c: node cannot
// make certificates, so x5t is the SHA-1 of the key's SPKI here). The keys
// sign the validationTokens of Graph's rich notifications: world.signingKeys
// (class SigningKeys below) is what graph.js calls. An unknown tenant gets
// AADSTS90002 (assumed; 'common', 'organizations', 'consumers' always work).
//
// Control routes of this service:
//   GET    /_fake/tokens         the issued tokens (prefix, client, tenant, expiry)
//   POST   /_fake/expire_tokens  every issued token expires now (Graph: "token is expired")
//   DELETE /_fake/tokens         forgets every issued token (Graph: token invalid)
//   POST   /_fake/jwks/rotate    {"keep_old": true (default) | false}: a new key (new
//                                 kid) signs from now on; keep_old false unpublishes the
//                                 others -> {"kid": "<new>", "kids": ["<published>", ...]}
//   GET    /_fake/jwks/requests  {"count": N}: GETs of the JWKS so far (scripted ones too)

const crypto = require('crypto');
const { FakeServer, HttpError, log, uuid, aadTimestamp, randomToken, b64url } = require('./common');

// Microsoft Graph's appId, the same resource in every cloud.
const GRAPH_APP_SCOPE = '00000003-0000-0000-c000-000000000000/.default';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const CERT_DOC = 'Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .';
const MAX_ASSERTION_LIFETIME_S = 600;
// Microsoft Graph Change Tracking: azp (v2) / appid (v1) of validationTokens.
const CHANGE_TRACKING_APP_ID = '0bf30f3b-4a52-48df-9a82-234910c4a086';
const KEYS_PATH = /^\/([^/]+)\/discovery\/v2\.0\/keys$/;
const ANY_TENANT = ['common', 'organizations', 'consumers'];
const TOKEN_KINDS = ['valid', 'expired', 'not_yet_valid', 'forged', 'unknown_kid', 'wrong_aud',
	'wrong_iss', 'wrong_appid', 'none'];

// code -> [HTTP status, error, description(c)]. Status, error and text of
// 7000215, 7000222, 7000218, 700016, 700023, 700024, 700027 are copied
// from real answers quoted in public issues; 90002, 900144, 70003,
// 1002012, 500011, 7000112, 700021 and 50027 follow the AADSTS reference
// texts; 50013 for a replayed jti and 7000219 for "both secret and
// assertion" are assumptions (no source shows what Azure answers).
const AAD = {
	7000215: [401, 'invalid_client', (c) => `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${c.app}'.`],
	7000222: [401, 'invalid_client', (c) => `The provided client secret keys for app '${c.app}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.`],
	7000218: [401, 'invalid_client', () => "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."],
	7000219: [400, 'invalid_request', () => "Only one client credential may be presented: send either 'client_assertion' or 'client_secret'."],
	700027: [401, 'invalid_client', (c) => `Client assertion contains an invalid signature. [Reason - ${c.reason || 'The key was not found.'}, Thumbprint of key used by client: '${c.thumb || ''}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${c.app}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments to determine the corresponding service endpoint and https://docs.microsoft.com/en-us/graph/api/application-get?view=graph-rest-1.0&tabs=http to build a query request URL, such as 'https://graph.microsoft.com/beta/applications/${c.app}']`],
	700024: [401, 'invalid_client', (c) => `Client assertion is not within its valid time range. Current time: ${c.now}, assertion valid from ${c.nbf}, expiry time of assertion ${c.exp}. ${CERT_DOC}`],
	700023: [401, 'invalid_client', () => `Client assertion audience claim does not match Realm issuer. ${CERT_DOC}`],
	700021: [401, 'invalid_client', () => `Client assertion application identifier doesn't match 'client_id' parameter. ${CERT_DOC}`],
	50027: [401, 'invalid_client', (c) => `JWT token is invalid or malformed.${c.reason ? ' ' + c.reason : ''}`],
	50013: [401, 'invalid_client', () => 'Assertion is invalid: its jti has already been used.'],
	700016: [400, 'unauthorized_client', (c) => `Application with identifier '${c.app}' was not found in the directory '${c.tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`],
	7000112: [400, 'unauthorized_client', (c) => `Application '${c.app}'(${c.name || c.app}) is disabled.`],
	90002: [400, 'invalid_request', (c) => `Tenant '${c.tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`],
	900144: [400, 'invalid_request', (c) => `The request body must contain the following parameter: '${c.param}'.`],
	70003: [400, 'unsupported_grant_type', (c) => `The app requested an unsupported grant type '${c.grant}'.`],
	1002012: [400, 'invalid_scope', (c) => `The provided value for scope ${c.scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`],
	500011: [400, 'invalid_resource', (c) => `The resource principal named ${c.resource} was not found in the tenant named ${c.tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`],
};

function fail(code, c) {
	return new HttpError(0, code, '', c);
}

// Answers an AADSTS error exactly the way Azure formats it.
function sendAad(ctx, code, c = {}, overrides = {}) {
	const [status, error, text] = AAD[code] || [400, 'invalid_request', () => 'Scripted error.'];
	const trace = uuid();
	const corr = ctx.headers['client-request-id'] || uuid();
	const ts = aadTimestamp();
	const ctxFill = Object.assign({ app: (ctx.form && ctx.form.get('client_id')) || '', tenant: ctx.params[0] || '' }, c);
	const body = {
		error,
		error_description: `AADSTS${code}: ${text(ctxFill)}\r\nTrace ID: ${trace}\r\nCorrelation ID: ${corr}\r\nTimestamp: ${ts}`,
		error_codes: [code],
		timestamp: ts,
		trace_id: trace,
		correlation_id: corr,
		error_uri: `https://login.microsoftonline.com/error?code=${code}`,
	};
	ctx.send(overrides.status || status, body, overrides.headers || {});
}

// --- the token request --------------------------------------------------------

async function token(ctx) {
	const world = ctx.world;
	const f = ctx.form;
	const tenant = world.state.tenant(ctx.params[0]);
	if (!tenant)
		throw fail(90002, { tenant: ctx.params[0] });
	for (const param of ['grant_type', 'client_id', 'scope']) {
		if (!f.get(param))
			throw fail(900144, { param });
	}
	if (f.get('grant_type') !== 'client_credentials')
		throw fail(70003, { grant: f.get('grant_type') });
	const app = world.state.app(tenant, f.get('client_id'));
	if (!app)
		throw fail(700016, { tenant: ctx.params[0] });
	if (app.disabled)
		throw fail(7000112, { name: app.display_name });
	const audience = checkScope(world, f.get('scope'), tenant);
	authenticate(ctx, tenant, app);
	issue(ctx, tenant, app, audience);
}

// The resource of a client-credentials scope must be the Graph this cloud
// serves: here the fake Graph's origin (https://127.0.0.1:PORT), which, like
// graph.microsoft.us or microsoftgraph.chinacloudapi.cn, is not the global
// https://graph.microsoft.com. A token endpoint answers a resource it does not
// know with 400 invalid_resource AADSTS500011 ("The resource principal named
// ... was not found in the tenant named ...": the AADSTS reference, and a
// real answer in a national cloud asked for a global resource,
// Azure/Azure-DataFactory#293). unknown_graph_scope "issue" is the other
// plausible behaviour: a token is issued for that resource, and the fake
// Graph then refuses it (401 InvalidAuthenticationToken, invalid audience).
// Returns the token's audience.
function checkScope(world, scope, tenant) {
	const scopes = scope.split(' ').filter(Boolean);
	if (scopes.length !== 1 || !scopes[0].endsWith('/.default'))
		throw fail(1002012, { scope });
	const resource = scopes[0].slice(0, -'/.default'.length);
	if (scopes[0] === GRAPH_APP_SCOPE || resource === world.graphOrigin)
		return world.graphOrigin;
	if (world.state.data.unknown_graph_scope === 'issue')
		return resource;
	throw fail(500011, { resource, tenant: tenant.id });
}

function authenticate(ctx, tenant, app) {
	const f = ctx.form;
	const secret = f.get('client_secret');
	const assertion = f.get('client_assertion');
	if (secret !== null && assertion !== null)
		throw fail(7000219);
	if (secret !== null) {
		const verdict = ctx.world.state.checkSecret(app, secret);
		if (verdict === 'expired')
			throw fail(7000222);
		if (verdict !== 'ok')
			throw fail(7000215);
		return;
	}
	if (assertion !== null && f.get('client_assertion_type') === JWT_BEARER) {
		verifyAssertion(ctx, tenant, app, assertion);
		return;
	}
	throw fail(7000218);
}

function issue(ctx, tenant, app, audience) {
	const lifetime = ctx.world.state.data.token_lifetime_s;
	const tok = randomToken(48);
	ctx.world.tokens.set(tok, { client_id: app.app_id, tenant: tenant.id, aud: audience,
		exp_ms: Date.now() + lifetime * 1000 });
	ctx.send(200, { token_type: 'Bearer', expires_in: lifetime, ext_expires_in: lifetime, access_token: tok });
}

// --- the client assertion -----------------------------------------------------

function decodePart(s) {
	try {
		return JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
	} catch (e) {
		return undefined;
	}
}

function verifyAssertion(ctx, tenant, app, jwt) {
	const parts = jwt.split('.');
	const header = parts.length === 3 ? decodePart(parts[0]) : undefined;
	const claims = parts.length === 3 ? decodePart(parts[1]) : undefined;
	if (typeof header !== 'object' || typeof claims !== 'object' || !header || !claims)
		throw fail(50027, { reason: 'The assertion is not a JWS in compact form.' });
	if (header.alg !== 'PS256' && header.alg !== 'RS256')
		throw fail(50027, { reason: `'${header.alg}' is not a supported signature algorithm.` });
	const cert = findCertificate(ctx, app, header);
	checkSignature(cert, header.alg, parts, app);
	checkClaims(ctx, app, claims);
}

// Finds the registered certificate the header's thumbprint names.
function findCertificate(ctx, app, header) {
	const certs = ctx.world.state.certificates(app);
	let cert;
	let thumb = '';
	if (header['x5t#S256']) {
		cert = certs.find((c) => c.x5tS256 === header['x5t#S256']);
		thumb = Buffer.from(header['x5t#S256'], 'base64url').toString('hex').toUpperCase();
	} else if (header.x5t) {
		cert = certs.find((c) => c.x5t === header.x5t);
		thumb = Buffer.from(header.x5t, 'base64url').toString('hex').toUpperCase();
	}
	if (!cert)
		throw fail(700027, { reason: 'The key was not found.', thumb });
	if (Date.parse(cert.x509.validTo) <= Date.now())
		throw fail(700027, { reason: 'The key used is expired.', thumb });
	return cert;
}

function checkSignature(cert, alg, parts, app) {
	const input = Buffer.from(parts[0] + '.' + parts[1]);
	const sig = Buffer.from(parts[2], 'base64url');
	const key = alg === 'PS256' ?
		{ key: cert.x509.publicKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } :
		cert.x509.publicKey;
	let ok = false;
	try {
		ok = crypto.verify('sha256', input, key, sig);
	} catch (e) {
		ok = false;
	}
	if (!ok) {
		throw fail(700027, {
			reason: 'Key was found, but use of the key to verify the signature failed.',
			thumb: cert.sha1Hex, app: app.app_id,
		});
	}
}

function checkClaims(ctx, app, claims) {
	const expectedAud = `https://${ctx.headers.host}${ctx.url.pathname}`;
	if (claims.aud !== expectedAud)
		throw fail(700023);
	if (claims.iss !== app.app_id || claims.sub !== app.app_id)
		throw fail(700021);
	checkTimes(ctx, claims);
	if (typeof claims.jti !== 'string' || claims.jti === '')
		throw fail(50027, { reason: "The assertion has no 'jti' claim." });
	const seen = ctx.world.jtis;
	const now = Date.now();
	for (const [k, exp] of seen) {
		if (exp < now - 3600e3)
			seen.delete(k);
	}
	if (seen.has(app.app_id + ' ' + claims.jti))
		throw fail(50013);
	seen.set(app.app_id + ' ' + claims.jti, claims.exp * 1000);
}

// Azure prints assertion times with 7 fractional digits.
function dotnetTime(sec) {
	if (typeof sec !== 'number')
		return 'none';
	return new Date(sec * 1000).toISOString().slice(0, 23) + '0000Z';
}

function checkTimes(ctx, claims) {
	const now = Date.now() / 1000;
	const skew = ctx.world.state.data.clock_skew_s;
	const { exp, nbf, iat } = claims;
	const c = { now: dotnetTime(Math.floor(now)), nbf: dotnetTime(nbf === undefined ? 0 : nbf), exp: dotnetTime(exp) };
	if (typeof exp !== 'number')
		throw fail(50027, { reason: "The assertion has no numeric 'exp' claim." });
	const start = typeof nbf === 'number' ? nbf : (typeof iat === 'number' ? iat : now);
	if (exp <= now || start > now + skew || exp - start > MAX_ASSERTION_LIFETIME_S)
		throw fail(700024, c);
}

// --- signing keys and validation tokens ------------------------------------------

function newSigningKey() {
	const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
	const spki = publicKey.export({ type: 'spki', format: 'der' });
	const x5t = b64url(crypto.createHash('sha1').update(spki).digest());
	const jwk = publicKey.export({ format: 'jwk' });
	return { kid: x5t, x5t, n: jwk.n, e: jwk.e, publicKey, privateKey };
}

// The identity platform's token signing keys: "published" is what the JWKS
// lists, "current" signs. A rogue key (made on first use, never published)
// forges tokens for the negative tests.
class SigningKeys {
	constructor() {
		this.published = [];
		this.current = null;
		this.rogue = null;
		this.fetches = 0;
		this.rotate(true);
	}

	rotate(keepOld) {
		const k = newSigningKey();
		if (!keepOld)
			this.published = [];
		this.published.push(k);
		this.current = k;
		return k;
	}

	jwks(issuer) {
		return {
			keys: this.published.map((k) => ({
				kty: 'RSA', use: 'sig', kid: k.kid, x5t: k.x5t, n: k.n, e: k.e, issuer,
			})),
		};
	}

	rogueKey() {
		if (!this.rogue)
			this.rogue = newSigningKey();
		return this.rogue;
	}

	static sign(header, claims, key) {
		const input = b64url(JSON.stringify(header)) + '.' + b64url(JSON.stringify(claims));
		const sig = crypto.sign('sha256', Buffer.from(input), key.privateKey);
		return input + '.' + b64url(sig);
	}

	// One validationToken of a rich notification batch: RS256, aud = the
	// app that created the subscription, iss/azp (v2) or iss/appid (v1).
	// kind (TOKEN_KINDS) spoils one thing for the negative tests; null for
	// 'none'.
	validationToken({ appId, tenant, version = 2, kind = 'valid' }) {
		if (!TOKEN_KINDS.includes(kind))
			throw new HttpError(400, 'BadControl', `token must be one of ${TOKEN_KINDS.join(', ')}`);
		if (version !== 1 && version !== 2)
			throw new HttpError(400, 'BadControl', 'token_version must be 1 or 2');
		if (kind === 'none')
			return null;
		const now = Math.floor(Date.now() / 1000);
		let iat = now;
		let nbf = now - 300;
		let exp = now + 3600;
		if (kind === 'expired') {
			iat = now - 7200;
			nbf = iat - 300;
			exp = now - 3600;
		} else if (kind === 'not_yet_valid') {
			iat = now + 3600;
			nbf = now + 3600;
			exp = now + 7200;
		}
		const tid = kind === 'wrong_iss' ? uuid() : tenant;
		const client = kind === 'wrong_appid' ? uuid() : CHANGE_TRACKING_APP_ID;
		const claims = { aud: kind === 'wrong_aud' ? uuid() : appId };
		if (version === 1) {
			Object.assign(claims, { iss: `https://sts.windows.net/${tid}/`, iat, nbf, exp,
				appid: client, appidacr: '2', tid: tenant, ver: '1.0' });
		} else {
			Object.assign(claims, { iss: `https://login.microsoftonline.com/${tid}/v2.0`, iat, nbf, exp,
				azp: client, azpacr: '2', tid: tenant, ver: '2.0' });
		}
		let signer = this.current;
		let named = this.current;
		if (kind === 'forged')
			signer = this.rogueKey();
		else if (kind === 'unknown_kid')
			signer = named = this.rogueKey();
		return SigningKeys.sign({ typ: 'JWT', alg: 'RS256', kid: named.kid, x5t: named.x5t }, claims, signer);
	}
}

function serveKeys(ctx) {
	const name = ctx.params[0];
	const known = ANY_TENANT.includes(name.toLowerCase()) ? null : ctx.world.state.tenant(name);
	if (!ANY_TENANT.includes(name.toLowerCase()) && !known)
		throw fail(90002, { tenant: name });
	const issuer = `https://login.microsoftonline.com/${known ? known.id : '{tenantid}'}/v2.0`;
	ctx.send(200, ctx.world.signingKeys.jwks(issuer), {
		'Cache-Control': 'max-age=86400, private',
		'Access-Control-Allow-Origin': '*',
	});
}

// --- the server -----------------------------------------------------------------

function onError(ctx, e) {
	if (e.code in AAD) {
		sendAad(ctx, e.code, e.extra);
		return;
	}
	ctx.send(e.status || 400, { error: 'invalid_request', error_description: e.message });
}

function controlRoutes(world) {
	return [
		['GET', /^\/_fake\/tokens$/, (ctx) => {
			const out = [];
			for (const [tok, t] of world.tokens)
				out.push(Object.assign({ token_prefix: tok.slice(0, 8) }, t));
			ctx.send(200, { tokens: out });
		}],
		['POST', /^\/_fake\/expire_tokens$/, (ctx) => {
			for (const t of world.tokens.values())
				t.exp_ms = Math.min(t.exp_ms, Date.now() - 1);
			ctx.send(200, { expired: world.tokens.size });
		}],
		['DELETE', /^\/_fake\/tokens$/, (ctx) => {
			world.tokens.clear();
			ctx.send(200, { tokens: [] });
		}],
		['POST', /^\/_fake\/jwks\/rotate$/, (ctx) => {
			const b = ctx.text.trim() === '' ? {} : ctx.json();
			if (typeof b !== 'object' || b === null)
				throw new HttpError(400, 'BadControl', 'want {"keep_old": true|false}');
			const k = world.signingKeys.rotate(b.keep_old !== false);
			ctx.send(200, { kid: k.kid, kids: world.signingKeys.published.map((x) => x.kid) });
		}],
		['GET', /^\/_fake\/jwks\/requests$/, (ctx) => ctx.send(200, { count: world.signingKeys.fetches })],
	];
}

function createIdentity(world) {
	world.signingKeys = world.signingKeys || new SigningKeys();
	return new FakeServer(world, {
		name: 'identity',
		routes: [
			['POST', /^\/([^/]+)\/oauth2\/v2\.0\/token$/, (ctx) => {
				ctx.form = new URLSearchParams(ctx.text);
				return token(ctx);
			}],
			['GET', KEYS_PATH, serveKeys],
		],
		control: controlRoutes(world),
		error: onError,
		decorate: (ctx) => ({
			'Cache-Control': 'no-store, no-cache',
			'Pragma': 'no-cache',
			'x-ms-request-id': ctx.requestId,
			'Content-Type': 'application/json; charset=utf-8',
		}),
		record: (ctx, entry) => {
			entry.form = Object.fromEntries(new URLSearchParams(ctx.text));
			if (ctx.method === 'GET' && KEYS_PATH.test(ctx.path))
				world.signingKeys.fetches++;
		},
		scriptAction: (ctx, a) => {
			if (a.aadsts === undefined)
				return false;
			const m = /^\/([^/]+)\//.exec(ctx.path);
			ctx.form = new URLSearchParams(ctx.text);
			ctx.params = m ? [m[1]] : [];
			sendAad(ctx, a.aadsts, a.context || {}, { status: a.status, headers: a.headers });
			log('identity scripted AADSTS' + a.aadsts);
			return true;
		},
	});
}

module.exports = { createIdentity, AAD, SigningKeys, CHANGE_TRACKING_APP_ID, TOKEN_KINDS };
