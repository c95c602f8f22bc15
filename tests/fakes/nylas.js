'use strict';
// Fake Nylas API v3 (api.us.nylas.com).
//
// Every call needs "Authorization: Bearer <nylas.api_key>" (else 401
// api.authentication_error). Every answer carries an x-request-id header and
// request_id in the body; errors are {"request_id","error":{type,message}}.
// An optional nylas.rate_limit_per_s answers 429 api.rate_limit_error with
// Retry-After beyond that many requests per second.
//
// Routes:
//   GET        /v3/connectors/microsoft             settings without client_secret, scope,
//              active_credential_id when set; settings.tenant unless
//              nylas.connector_get_hides_tenant (whether GET echoes it is undocumented)
//   PATCH|PUT  /v3/connectors/microsoft             settings REPLACE the nested object
//              (a tenant left out is gone), so this fake insists on client_id and
//              client_secret (400 otherwise); tenant is optional (Nylas's default is
//              common); active_credential_id may be set
//   GET|PATCH  /v3/connectors/microsoft/creds/{id}  credential_data replaces the nested
//              object too (nylas.credential_patch "replace", the documented default) or,
//              with "merge", updates the fields sent; client_id and client_secret
//              required; answers never echo the data
//   GET        /v3/grants[/{id}]                    provider, grant_status, email filters;
//              limit (default 10, clamped to 200) with offset and/or page_token;
//              nylas.grants_paging: "offset" answers limit/offset, "cursor" next_cursor,
//              "both" both
//   POST       /v3/webhooks                          challenge GET first (10 s, exact body)
//   GET        /v3/webhooks[/{id}], DELETE /v3/webhooks/{id}
//   PUT        /v3/webhooks/{id}                     update trigger_types, webhook_url,
//              description, notification_email_addresses, status (nylas-nodejs
//              src/resources/webhooks.ts: update() is _update, a PUT, with
//              UpdateWebhookRequest = Partial<CreateWebhookRequest>); the answer has no secret
//   POST       /v3/webhooks/rotate-secret/{id}      new secret, only in this answer; the
//              old one is gone at once (spec/nylas.md "Details checked later";
//              nylas-nodejs rotateSecret() returns WebhookWithSecret, the other calls
//              Webhook without it); nylas.rotate_delay_ms holds the answer back after
//              the secret has changed (deliveries meanwhile are signed with the new one)
//   POST       /v3/grants/{id}/messages/send        Idempotency-Key: same key, same answer,
//              sent once
//
// Control routes of this service:
//   POST /_fake/deliver  {"webhook_id"|"url"+"secret", "type", "object", "grant_id"?,
//                        "compressed"?, "id"?, "attempt"?, "time"?, "raw"?, "signature"?,
//                        "header_name"?, "headers"?} -> builds the envelope, signs the exact
//                        bytes sent (after gzip when compressed) with the destination's
//                        current webhook_secret, POSTs it; answers {status, body, headers,
//                        latency_ms, envelope, signature, compressed}
//   GET  /_fake/connector/effective -> {"source":"active_credential"|"settings",
//                        "credential_id", "data":{client_id, client_secret, tenant?}}: what
//                        Nylas signs users in with (the active credential's data when
//                        active_credential_id is set, else settings)
//   POST /_fake/stream   {"webhook_id", "count", "concurrency"?, "retry_base_ms"?,
//                        "max_attempts"?} -> starts delivering count signed grant events to
//                        the destination, concurrency at a time, as Nylas does: each attempt
//                        signed with the destination's secret at that moment; 408, 429, 502,
//                        503, 504 and 507 retried (Retry-After honoured, else exponential
//                        backoff from retry_base_ms; Nylas's own is minutes) up to
//                        max_attempts (3, webhook_delivery_attempt 1..3); anything else, a
//                        401 above all, drops the event for good
//   GET  /_fake/stream   -> {sent, attempts, delivered, dropped, by_status, dropped_by_status,
//                        pending, done, ids}
//   POST /_fake/grants   {"grants":[partial grants, upserted by id]} |
//                        {"generate":{count, grant_status, provider, email_pattern "u{i}@x",
//                        credential_id}} | {"delete":[ids]} -> {"count": N}

const crypto = require('crypto');
const zlib = require('zlib');
const { FakeServer, HttpError, uuid, randomToken, outbound, outboundReport } = require('./common');

const GRANT_CODES = { 'grant.expired': 25009, 'grant.created': 25012, 'grant.deleted': 25013, 'grant.updated': 25014 };
const TYPE_BY_STATUS = {
	400: 'api.invalid_request_error', 401: 'api.authentication_error', 404: 'api.not_found_error',
	405: 'api.invalid_request_error', 429: 'api.rate_limit_error', 500: 'api.internal_error',
	504: 'api.provider_error',
};
const STATUS_BY_TYPE = {
	'api.invalid_request_error': 400, 'api.authentication_error': 401, 'api.not_found_error': 404,
	'api.rate_limit_error': 429, 'api.internal_error': 500, 'api.provider_error': 504,
};
const MAX_LIMIT = 200;

function nerr(status, message, extra) {
	return new HttpError(status, TYPE_BY_STATUS[status] || 'api.internal_error', message, extra);
}

function sendNylasError(ctx, status, type, message, extra = {}, headers = {}) {
	const error = { type, message };
	if (extra.provider_error)
		error.provider_error = extra.provider_error;
	ctx.send(status, { request_id: ctx.requestId, error }, headers);
}

function ok(ctx, data, extra = {}) {
	ctx.send(200, Object.assign({ request_id: ctx.requestId, data }, extra));
}

function nylasState(ctx) {
	return ctx.world.state.data.nylas;
}

function jsonBody(ctx) {
	if (ctx.text.trim() === '')
		return {};
	const v = ctx.json();
	if (typeof v !== 'object' || v === null || Array.isArray(v))
		throw nerr(400, 'Invalid request body: not a JSON object.');
	return v;
}

function nowSec() {
	return Math.floor(Date.now() / 1000);
}

// --- authentication and rate limit ---------------------------------------------

function checkAuth(ctx) {
	const n = nylasState(ctx);
	const m = /^Bearer\s+(\S+)\s*$/i.exec(ctx.headers.authorization || '');
	if (!m || !n.api_key || m[1] !== n.api_key)
		throw nerr(401, 'Unauthorized: invalid or missing API key.');
	const limit = n.rate_limit_per_s;
	if (!limit)
		return;
	const now = Date.now();
	ctx.world.nylasHits = ctx.world.nylasHits.filter((t) => now - t < 1000);
	if (ctx.world.nylasHits.length >= limit)
		throw nerr(429, 'nylas_rate_limit_exceeded', { retry_after: 1 });
	ctx.world.nylasHits.push(now);
}

// Wraps a handler with the API-key check.
function authed(handler) {
	return (ctx) => {
		checkAuth(ctx);
		return handler(ctx);
	};
}

// --- connector and credentials ----------------------------------------------------

function connector(ctx) {
	const c = nylasState(ctx).connector;
	if (!c)
		throw nerr(404, 'Connector not found: microsoft.');
	return c;
}

// settings.tenant is optional: nylas-nodejs src/models/connectors.ts and
// nylas-python nylas/models/connectors.py (MicrosoftCreateConnectorSettings:
// "tenant?" / NotRequired[str]); spec/nylas.md: Nylas's default is "common".
// active_credential_id: the Connector model of both SDKs (optional) and
// Nylas's "Update a connector" reference ("used as a default for
// communication with the provider").
function connectorJson(ctx, c) {
	const settings = Object.assign({}, c.settings || {});
	delete settings.client_secret;
	if (nylasState(ctx).connector_get_hides_tenant)
		delete settings.tenant;
	const out = { provider: 'microsoft', settings, scope: c.scope || [] };
	if (c.active_credential_id)
		out.active_credential_id = c.active_credential_id;
	return out;
}

// A nested object as a PATCH sends it: client_id and client_secret are
// required ("To use the credential to override a connector, this field must
// contain the client_id and client_secret", Nylas's "Update a connector
// credential" reference; the SDKs' Microsoft settings require both), tenant
// is optional and kept only when sent.
function azureSettings(obj, name) {
	if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
		throw nerr(400, `${name} must be an object.`);
	const missing = ['client_id', 'client_secret'].filter((k) => typeof obj[k] !== 'string' || obj[k] === '');
	if (missing.length)
		throw nerr(400, `${name} replaces the whole object: missing ${missing.join(', ')}.`);
	if (obj.tenant !== undefined && (typeof obj.tenant !== 'string' || obj.tenant === ''))
		throw nerr(400, `${name}.tenant must be a non-empty string.`);
	const out = { client_id: obj.client_id, client_secret: obj.client_secret };
	if (obj.tenant !== undefined)
		out.tenant = obj.tenant;
	return out;
}

// "When you make a PATCH request, Nylas replaces all data in the nested
// object with the information included in your request" (Nylas's "Update a
// connector" reference): settings are replaced whole, a tenant left out is gone.
function updateConnector(ctx) {
	const c = connector(ctx);
	const b = jsonBody(ctx);
	if (b.scope !== undefined && !(Array.isArray(b.scope) && b.scope.every((s) => typeof s === 'string')))
		throw nerr(400, 'scope must be an array of strings.');
	if (b.active_credential_id !== undefined && typeof b.active_credential_id !== 'string')
		throw nerr(400, 'active_credential_id must be a string.');
	if (b.settings !== undefined)
		c.settings = azureSettings(b.settings, 'settings');
	if (b.scope !== undefined)
		c.scope = b.scope;
	if (b.active_credential_id !== undefined)
		c.active_credential_id = b.active_credential_id;
	c.updated_at = nowSec();
	ok(ctx, connectorJson(ctx, c));
}

function credentialJson(c) {
	return {
		id: c.id,
		name: c.name || null,
		credential_type: c.credential_type || 'connector',
		hashed_data: crypto.createHash('sha256').update(JSON.stringify(c.credential_data || {})).digest('hex'),
		created_at: c.created_at || nowSec(),
		updated_at: c.updated_at || nowSec(),
	};
}

function credential(ctx) {
	const c = nylasState(ctx).credentials[ctx.params[0]];
	if (!c)
		throw nerr(404, `Credential not found: ${ctx.params[0]}.`);
	c.id = ctx.params[0];
	return c;
}

function updateCredential(ctx) {
	const c = credential(ctx);
	const b = jsonBody(ctx);
	// Nylas's "Update a connector credential" reference says the same as for
	// the connector: the nested object is replaced whole. "merge" is the
	// other plausible behaviour, for tests that must hold under both.
	if (b.credential_data !== undefined) {
		const data = azureSettings(b.credential_data, 'credential_data');
		c.credential_data = nylasState(ctx).credential_patch === 'merge' ?
			Object.assign({}, c.credential_data || {}, data) : data;
	}
	if (typeof b.name === 'string')
		c.name = b.name;
	c.updated_at = nowSec();
	ok(ctx, credentialJson(c));
}

// --- grants -----------------------------------------------------------------------------

function grantDefaults(g) {
	const now = nowSec();
	return Object.assign({
		id: uuid(), provider: 'microsoft', grant_status: 'valid', email: null, scope: [],
		created_at: now, updated_at: now, credential_id: null,
	}, g);
}

function intParam(ctx, name, def) {
	const v = ctx.query.get(name);
	if (v === null)
		return def;
	if (!/^\d+$/.test(v))
		throw nerr(400, `Invalid value for query parameter '${name}'.`);
	return parseInt(v, 10);
}

function cursorOffset(token) {
	const m = /^c1\.(\d+)$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
	if (!m)
		throw nerr(400, 'Invalid page_token.');
	return parseInt(m[1], 10);
}

function listGrants(ctx) {
	const n = nylasState(ctx);
	const q = ctx.query;
	const grants = n.grants.map(grantDefaults).filter((g) =>
		['provider', 'grant_status', 'email'].every((k) => q.get(k) === null || g[k] === q.get(k)));
	const limit = Math.min(intParam(ctx, 'limit', 10), MAX_LIMIT);
	if (limit < 1)
		throw nerr(400, "Invalid value for query parameter 'limit'.");
	const start = q.get('page_token') ? cursorOffset(q.get('page_token')) : intParam(ctx, 'offset', 0);
	const extra = {};
	const mode = n.grants_paging || 'offset';
	if (mode !== 'cursor') {
		extra.limit = limit;
		extra.offset = start;
	}
	if (mode !== 'offset' && start + limit < grants.length)
		extra.next_cursor = Buffer.from('c1.' + (start + limit)).toString('base64url');
	ok(ctx, grants.slice(start, start + limit), extra);
}

function findGrant(ctx, id) {
	const g = nylasState(ctx).grants.find((x) => x.id === id);
	if (!g)
		throw nerr(404, `Grant not found: ${id}.`);
	return grantDefaults(g);
}

// What Nylas signs users in with: the active credential's data when the
// connector has active_credential_id (spec/nylas.md, "Details checked
// later"), else the connector's settings.
function effective(n) {
	const c = n.connector || {};
	const cred = c.active_credential_id && n.credentials[c.active_credential_id];
	if (cred)
		return { source: 'active_credential', credential_id: c.active_credential_id, data: cred.credential_data || {} };
	return { source: 'settings', credential_id: null, data: c.settings || {} };
}

// The Microsoft secret a grant authenticates with: its connector
// credential's, else what the connector uses.
function grantSecret(ctx, g) {
	const n = nylasState(ctx);
	const cred = g.credential_id && n.credentials[g.credential_id];
	if (cred)
		return cred.credential_data || {};
	return effective(n).data;
}

// A Microsoft grant cannot send while the Microsoft secret is broken (spec);
// checked against the identity fake's view of that secret when the app is
// known there. The 504 provider error shape is an assumption.
function checkProvider(ctx, g) {
	if (g.provider !== 'microsoft')
		return;
	const s = grantSecret(ctx, g);
	const state = ctx.world.state;
	// No tenant, or common/organizations: the app's secrets live in its home tenant.
	const home = (s.tenant && state.tenant(s.tenant)) ||
		Object.values(state.data.tenants || {}).find((t) => t.apps && t.apps[s.client_id]) || null;
	const app = state.app(home, s.client_id);
	if (!app)
		return;
	const verdict = state.checkSecret(app, s.client_secret);
	if (verdict !== 'ok') {
		const code = verdict === 'expired' ? 7000222 : 7000215;
		throw nerr(504, 'The provider rejected the request: the Microsoft client secret is not valid.',
			{ provider_error: { error: 'invalid_client', error_codes: [code] } });
	}
}

function sendMessage(ctx) {
	const g = findGrant(ctx, ctx.params[0]);
	const key = ctx.headers['idempotency-key'];
	const cache = ctx.world.idempotency;
	const ck = g.id + ' ' + key;
	if (key && cache.has(ck)) {
		const prev = cache.get(ck);
		ctx.send(prev.status, prev.body);
		return;
	}
	if (g.grant_status !== 'valid')
		throw nerr(400, `Grant ${g.id} is ${g.grant_status}: the user must re-authenticate.`);
	checkProvider(ctx, g);
	const b = jsonBody(ctx);
	if (!Array.isArray(b.to) || b.to.length === 0 || !b.to.every((r) => r && typeof r.email === 'string'))
		throw nerr(400, "'to' must be a non-empty array of {email}.");
	const msg = {
		id: randomToken(12), grant_id: g.id, object: 'message', date: nowSec(),
		from: [{ email: g.email }], to: b.to, cc: b.cc || [], bcc: b.bcc || [],
		subject: b.subject || '', body: b.body || '',
	};
	const body = { request_id: ctx.requestId, grant_id: g.id, data: msg };
	nylasState(ctx).sent_messages.push(Object.assign({ idempotency_key: key || null }, msg));
	if (key)
		cache.set(ck, { status: 200, body });
	ctx.send(200, body);
}

// --- webhooks -----------------------------------------------------------------------------

function webhookJson(w, withSecret) {
	const out = Object.assign({}, w);
	if (!withSecret)
		delete out.webhook_secret;
	return out;
}

function webhook(ctx, id) {
	const w = nylasState(ctx).webhooks[id];
	if (!w)
		throw nerr(404, `Webhook destination not found: ${id}.`);
	return w;
}

// Nylas's challenge: GET url?challenge=X must answer 200 with exactly X.
async function challenge(ctx, url) {
	const value = randomToken(24);
	const full = url + (url.includes('?') ? '&' : '?') + 'challenge=' + encodeURIComponent(value);
	const r = await outbound(ctx.world, full, { method: 'GET', timeoutMs: nylasState(ctx).challenge_timeout_ms });
	ctx.world.challenges.push({ url: full, value, time_ms: Date.now(), result: outboundReport(r) });
	if (r.error)
		return `the challenge request failed: ${r.error}`;
	if (r.status !== 200)
		return `the challenge was answered ${r.status}, not 200`;
	if (r.text !== value)
		return 'the challenge answer is not the exact challenge value';
	return null;
}

function checkWebhookBody(b) {
	if (!Array.isArray(b.trigger_types) || b.trigger_types.length === 0 ||
		!b.trigger_types.every((t) => typeof t === 'string'))
		throw nerr(400, 'trigger_types must be a non-empty array of strings.');
	let u = null;
	try {
		u = new URL(b.webhook_url);
	} catch (e) {
		u = null;
	}
	if (!u || !['http:', 'https:'].includes(u.protocol))
		throw nerr(400, 'webhook_url must be an absolute http(s) URL.');
}

async function createWebhook(ctx) {
	const b = jsonBody(ctx);
	checkWebhookBody(b);
	const why = await challenge(ctx, b.webhook_url);
	if (why)
		throw nerr(400, `webhook_url verification failed: ${why}.`);
	const now = nowSec();
	const w = {
		id: uuid(),
		description: b.description || '',
		trigger_types: b.trigger_types,
		webhook_url: b.webhook_url,
		webhook_secret: randomToken(32),
		status: 'active',
		notification_email_addresses: b.notification_email_addresses || [],
		compressed_delivery: Boolean(b.compressed_delivery),
		status_updated_at: now,
		created_at: now,
		updated_at: now,
	};
	nylasState(ctx).webhooks[w.id] = w;
	ok(ctx, webhookJson(w, true));
}

async function rotateSecret(ctx) {
	const w = webhook(ctx, ctx.params[0]);
	w.webhook_secret = randomToken(32);
	w.updated_at = nowSec();
	const answer = webhookJson(w, true);
	const delay = nylasState(ctx).rotate_delay_ms || 0;
	if (delay > 0)
		await new Promise((resolve) => setTimeout(resolve, delay));
	ok(ctx, answer);
}

const UPDATABLE = ['trigger_types', 'webhook_url', 'description', 'notification_email_addresses', 'status'];

function updateWebhook(ctx) {
	const w = webhook(ctx, ctx.params[0]);
	const b = jsonBody(ctx);
	if (b.trigger_types !== undefined || b.webhook_url !== undefined)
		checkWebhookBody(Object.assign({ trigger_types: w.trigger_types, webhook_url: w.webhook_url }, b));
	if (b.status !== undefined && !['active', 'pause'].includes(b.status))
		throw nerr(400, 'status must be active or pause.');
	for (const k of UPDATABLE) {
		if (b[k] !== undefined)
			w[k] = b[k];
	}
	w.updated_at = nowSec();
	if (b.status !== undefined)
		w.status_updated_at = w.updated_at;
	ok(ctx, webhookJson(w, false));
}

// --- a continuous delivery stream, retried as Nylas retries ---------------------------

const RETRIED = [408, 429, 502, 503, 504, 507];

function newStream(b) {
	return {
		webhook_id: b.webhook_id, total: b.count || 1000, concurrency: b.concurrency || 8,
		retry_base_ms: b.retry_base_ms || 200, max_attempts: b.max_attempts || 3,
		next: 0, queue: [], timers: 0, active: 0, sent: 0, attempts: 0, delivered: 0, dropped: 0,
		by_status: {}, dropped_by_status: {}, ids: [],
	};
}

function streamEvent(ctx, st, i) {
	const grant = 'g-stream-' + i;
	return {
		specversion: '1.0', type: 'grant.updated', source: '/nylas/system', id: 'stream-' + st.seed + '-' + i,
		time: nowSec(), webhook_delivery_attempt: 1,
		data: { application_id: nylasState(ctx).application_id || 'nylas-app-1', object: {
			code: 25014, grant_id: grant, integration_id: 'int-microsoft', provider: 'microsoft',
			email: 'u' + i + '@example.com', reauthentication_flag: false } },
	};
}

async function streamAttempt(ctx, st, ev) {
	const w = nylasState(ctx).webhooks[st.webhook_id];
	ev.webhook_delivery_attempt = ev.attempt;
	const bytes = Buffer.from(JSON.stringify(ev));
	// Signed with the secret in force when this attempt leaves.
	const sig = crypto.createHmac('sha256', w.webhook_secret).update(bytes).digest('hex');
	st.attempts++;
	const r = await outbound(ctx.world, w.webhook_url, { method: 'POST', body: bytes, timeoutMs: 10000,
		headers: { 'Content-Type': 'application/json', 'X-Nylas-Signature': sig } });
	const code = r.error ? 'error' : String(r.status);
	st.by_status[code] = (st.by_status[code] || 0) + 1;
	if (r.status === 200) {
		st.delivered++;
		st.ids.push(ev.id);
		return;
	}
	const retried = r.error || RETRIED.includes(r.status);
	if (!retried || ev.attempt >= st.max_attempts) {
		st.dropped++;
		st.dropped_by_status[code] = (st.dropped_by_status[code] || 0) + 1;
		return;
	}
	const ra = r.headers && parseInt(r.headers['retry-after'], 10);
	// Retry-After is in seconds; the stream shortens it as it shortens its own backoff.
	const wait = ra > 0 ? Math.min(ra * 1000, st.retry_base_ms * 4) : st.retry_base_ms * 2 ** (ev.attempt - 1);
	ev.attempt++;
	st.timers++;
	setTimeout(() => {
		st.timers--;
		st.queue.push(ev);
		streamPump(ctx, st);
	}, wait);
}

function streamPump(ctx, st) {
	while (st.active < st.concurrency) {
		let ev = st.queue.shift();
		if (!ev && st.next < st.total) {
			ev = streamEvent(ctx, st, st.next++);
			ev.attempt = 1;
			st.sent++;
		}
		if (!ev)
			return;
		st.active++;
		streamAttempt(ctx, st, ev).finally(() => {
			st.active--;
			streamPump(ctx, st);
		});
	}
}

function startStream(ctx) {
	const b = ctx.json() || {};
	if (!nylasState(ctx).webhooks[b.webhook_id])
		throw controlError(404, `no webhook '${b.webhook_id}'`);
	const st = newStream(b);
	st.seed = randomToken(6);
	ctx.world.stream = st;
	streamPump(ctx, st);
	ctx.send(200, { started: st.total });
}

function streamReport(ctx) {
	const st = ctx.world.stream;
	if (!st)
		throw controlError(404, 'no stream');
	const pending = st.total - st.delivered - st.dropped;
	ctx.send(200, {
		sent: st.sent, attempts: st.attempts, delivered: st.delivered, dropped: st.dropped,
		by_status: st.by_status, dropped_by_status: st.dropped_by_status, pending,
		done: pending === 0, ids: pending === 0 ? st.ids : [],
	});
}

// --- deliveries (control) ------------------------------------------------------------------

function controlError(status, message) {
	return new HttpError(status, 'BadControl', message);
}

// The envelope's data.object: built from a known grant when grant_id is
// given, then overridden field by field by "object".
function deliveryObject(ctx, b, type) {
	const base = {};
	if (b.grant_id) {
		const g = nylasState(ctx).grants.find((x) => x.id === b.grant_id) || { id: b.grant_id };
		Object.assign(base, {
			code: GRANT_CODES[type], grant_id: g.id, integration_id: g.credential_id || 'int-microsoft',
			provider: g.provider || 'microsoft', email: g.email || null, grant_updated_at: g.updated_at || nowSec(),
		});
	}
	return Object.assign(base, b.object || {});
}

function deliveryTarget(ctx, b) {
	const w = b.webhook_id ? nylasState(ctx).webhooks[b.webhook_id] : null;
	if (b.webhook_id && !w)
		throw controlError(404, `no webhook '${b.webhook_id}'`);
	const url = b.url || (w && w.webhook_url);
	const secret = b.secret !== undefined ? b.secret : (w && w.webhook_secret);
	if (!url || (secret === undefined && b.signature === undefined))
		throw controlError(400, 'want "webhook_id", or "url" with "secret"');
	const compressed = b.compressed !== undefined ? Boolean(b.compressed) : Boolean(w && w.compressed_delivery);
	return { url, secret, compressed };
}

async function deliver(ctx) {
	const b = ctx.json() || {};
	const t = deliveryTarget(ctx, b);
	const type = b.type || 'grant.expired';
	const envelope = {
		specversion: '1.0', type, source: '/nylas/system', id: b.id || randomToken(16),
		time: b.time !== undefined ? b.time : nowSec(), webhook_delivery_attempt: b.attempt || 1,
		data: { application_id: nylasState(ctx).application_id, object: deliveryObject(ctx, b, type) },
	};
	let bytes = Buffer.from(b.raw !== undefined ? b.raw : JSON.stringify(envelope));
	if (t.compressed)
		bytes = zlib.gzipSync(bytes);
	const signature = b.signature !== undefined ? b.signature :
		crypto.createHmac('sha256', t.secret).update(bytes).digest('hex');
	const headers = Object.assign({ 'Content-Type': 'application/json' }, b.headers || {});
	if (signature !== false)
		headers[b.header_name || 'X-Nylas-Signature'] = signature;
	if (t.compressed)
		headers['Content-Encoding'] = 'gzip';
	const r = await outbound(ctx.world, t.url, { method: 'POST', headers, body: bytes, timeoutMs: 15000 });
	ctx.send(200, Object.assign(outboundReport(r), { url: t.url, envelope, signature, compressed: t.compressed }));
}

function upsertGrants(ctx) {
	const n = nylasState(ctx);
	const b = ctx.json() || {};
	for (const g of b.grants || []) {
		const i = g.id ? n.grants.findIndex((x) => x.id === g.id) : -1;
		if (i >= 0)
			n.grants[i] = Object.assign(n.grants[i], g, { updated_at: g.updated_at || nowSec() });
		else
			n.grants.push(grantDefaults(g));
	}
	const gen = b.generate;
	for (let i = 0; gen && i < (gen.count || 0); i++) {
		n.grants.push(grantDefaults({
			grant_status: gen.grant_status || 'valid', provider: gen.provider || 'microsoft',
			email: (gen.email_pattern || 'user{i}@example.com').replace('{i}', String(i)),
			credential_id: gen.credential_id || null,
		}));
	}
	if (Array.isArray(b.delete))
		n.grants = n.grants.filter((g) => !b.delete.includes(g.id));
	ctx.send(200, { count: n.grants.length });
}

// --- the server ----------------------------------------------------------------------------

function onError(ctx, e) {
	const type = e.code && String(e.code).startsWith('api.') ? e.code : (TYPE_BY_STATUS[e.status] || 'api.internal_error');
	const headers = e.extra && e.extra.retry_after ? { 'Retry-After': String(e.extra.retry_after) } : {};
	sendNylasError(ctx, e.status, type, e.message, e.extra || {}, headers);
}

function scriptAction(ctx, a) {
	if (a.nylas_error === undefined)
		return false;
	const status = a.status || STATUS_BY_TYPE[a.nylas_error] || 400;
	sendNylasError(ctx, status, a.nylas_error, a.message || 'Scripted error.', a, a.headers || {});
	return true;
}

function createNylas(world) {
	world.nylasHits = [];
	world.idempotency = new Map();
	world.challenges = [];
	const CONN = /^\/v3\/connectors\/microsoft$/;
	const CRED = /^\/v3\/connectors\/microsoft\/creds\/([^/]+)$/;
	return new FakeServer(world, {
		name: 'nylas',
		routes: [
			['GET', CONN, authed((ctx) => ok(ctx, connectorJson(ctx, connector(ctx))))],
			['PATCH', CONN, authed(updateConnector)],
			['PUT', CONN, authed(updateConnector)],
			['GET', CRED, authed((ctx) => ok(ctx, credentialJson(credential(ctx))))],
			['PATCH', CRED, authed(updateCredential)],
			['GET', /^\/v3\/grants$/, authed(listGrants)],
			['GET', /^\/v3\/grants\/([^/]+)$/, authed((ctx) => ok(ctx, findGrant(ctx, ctx.params[0])))],
			['POST', /^\/v3\/grants\/([^/]+)\/messages\/send$/, authed(sendMessage)],
			['POST', /^\/v3\/webhooks$/, authed(createWebhook)],
			['GET', /^\/v3\/webhooks$/, authed((ctx) =>
				ok(ctx, Object.values(nylasState(ctx).webhooks).map((w) => webhookJson(w, false))))],
			['GET', /^\/v3\/webhooks\/([^/]+)$/, authed((ctx) => ok(ctx, webhookJson(webhook(ctx, ctx.params[0]), false)))],
			['DELETE', /^\/v3\/webhooks\/([^/]+)$/, authed((ctx) => {
				webhook(ctx, ctx.params[0]);
				delete nylasState(ctx).webhooks[ctx.params[0]];
				ok(ctx, { status: 'success' });
			})],
			['PUT', /^\/v3\/webhooks\/([^/]+)$/, authed(updateWebhook)],
			['POST', /^\/v3\/webhooks\/rotate-secret\/([^/]+)$/, authed(rotateSecret)],
		],
		control: [
			['POST', /^\/_fake\/deliver$/, deliver],
			['POST', /^\/_fake\/stream$/, startStream],
			['GET', /^\/_fake\/stream$/, streamReport],
			['POST', /^\/_fake\/grants$/, upsertGrants],
			['GET', /^\/_fake\/connector\/effective$/, (ctx) => ctx.send(200, effective(nylasState(ctx)))],
			['GET', /^\/_fake\/challenges$/, (ctx) => ctx.send(200, { challenges: world.challenges })],
		],
		error: onError,
		decorate: (ctx) => ({ 'x-request-id': ctx.requestId }),
		scriptAction,
	});
}

module.exports = { createNylas };
