'use strict';
// The state all fakes share: tenants with their apps (passwords,
// certificates, owners, permissions) and users, the Graph subscriptions, the
// Nylas side, and the knobs tests turn. The schema is documented at the top
// of fake.js. Seeding is an RFC 7386 JSON merge patch: objects merge, arrays
// and scalars replace, null deletes.

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { uuid, graphNow } = require('./common');

function defaults() {
	return {
		tenants: {},
		propagation_ms: 0,
		propagation_flaky_ms: 0,
		credential_change_ms: 200,
		max_lifetime_days: null,
		concurrency_status: 400,
		page_size: 100,
		token_lifetime_s: 3599,
		clock_skew_s: 300,
		unknown_graph_scope: 'refuse',
		secret_style: 'modern',
		subscription_max_minutes: 41760,
		subscription_expiry_error: 'minutes',
		graph_clock_offset_s: 0,
		validation_timeout_ms: 10000,
		validation_token: null,
		validation_space: '+',
		subscriptions: {},
		nylas: {
			api_key: null,
			application_id: 'nylas-app-1',
			connector: null,
			credentials: {},
			grants: [],
			grants_paging: 'offset',
			webhooks: {},
			sent_messages: [],
			challenge_timeout_ms: 10000,
		},
	};
}

function isObject(v) {
	return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// RFC 7386: returns the patched target (a new object when target is not one).
function mergePatch(target, patch) {
	if (!isObject(patch))
		return patch;
	const out = isObject(target) ? target : {};
	for (const [k, v] of Object.entries(patch)) {
		if (v === null)
			delete out[k];
		else
			out[k] = mergePatch(out[k], v);
	}
	return out;
}

class State {
	constructor(certsDir) {
		this.certsDir = certsDir;
		this.data = defaults();
		this.certCache = new Map();
	}

	patch(p) {
		this.data = mergePatch(this.data, p);
		this.normalise();
	}

	loadFile(file) {
		this.patch(JSON.parse(fs.readFileSync(file, 'utf8')));
	}

	// Fills in what a seed may leave out, so that handlers can rely on it:
	// ids are random (as in Azure) but then stay fixed in the state.
	normalise() {
		for (const [tid, t] of Object.entries(this.data.tenants)) {
			t.apps = t.apps || {};
			t.users = t.users || {};
			for (const [appId, app] of Object.entries(t.apps))
				normaliseApp(appId, app);
			for (const [id, u] of Object.entries(t.users))
				u.id = u.id || id;
			t.id = tid;
		}
		// Grants need stable ids: the API pages through them and tests name them.
		const now = Math.floor(Date.now() / 1000);
		for (const g of this.data.nylas.grants || []) {
			g.id = g.id || uuid();
			g.created_at = g.created_at || now;
			g.updated_at = g.updated_at || g.created_at;
		}
	}

	tenant(tid) {
		const t = this.data.tenants;
		if (t[tid])
			return t[tid];
		const lower = String(tid).toLowerCase();
		return Object.values(t).find((x) => (x.domains || []).some((d) => d.toLowerCase() === lower)) || null;
	}

	app(tenant, appId) {
		return (tenant && tenant.apps[appId]) || null;
	}

	appByObjectId(tenant, oid) {
		return Object.values(tenant.apps).find((a) => a.object_id === oid) || null;
	}

	// The registered certificates of an app, parsed: [{x509, x5t, x5tS256}].
	certificates(app) {
		return (app.certificates || []).map((c) => this.certificate(c)).filter(Boolean);
	}

	// Files are read on every use (a test may remake rotator.crt); the
	// parsed certificate is cached by its PEM text.
	certificate(entry) {
		let pem = entry;
		if (!entry.includes('-----BEGIN')) {
			let file = entry;
			if (!path.isAbsolute(file) && !fs.existsSync(file))
				file = path.join(this.certsDir, file);
			pem = fs.readFileSync(file, 'utf8');
		}
		if (this.certCache.has(pem))
			return this.certCache.get(pem);
		const x509 = new crypto.X509Certificate(pem);
		const c = {
			x509,
			x5t: crypto.createHash('sha1').update(x509.raw).digest('base64url'),
			x5tS256: crypto.createHash('sha256').update(x509.raw).digest('base64url'),
			sha1Hex: crypto.createHash('sha1').update(x509.raw).digest('hex').toUpperCase(),
		};
		this.certCache.set(pem, c);
		return c;
	}

	// Is a client secret good for an app right now? 'ok', 'expired' or
	// 'invalid'. A secret that is not yet propagated is 'invalid', as Azure
	// answers AADSTS7000215 for a brand-new secret for a few seconds.
	// A secret is accepted by some replicas before others: for
	// propagation_flaky_ms after propagation_ms, every other request with it
	// is refused (hashicorp/vault#27593: "2 to 10 minutes" of intermittent
	// invalid_client after a first success; terraform-provider-vault#2079).
	// Alternating, not random, so that tests know no two in a row pass.
	catchingUp(p, now) {
		const prop = this.data.propagation_ms || 0;
		const flaky = this.data.propagation_flaky_ms || 0;
		if (p.created_ms === undefined || now - p.created_ms >= prop + flaky)
			return false;
		p.checks = (p.checks || 0) + 1;
		return p.checks % 2 === 0;
	}

	checkSecret(app, secret, now = Date.now()) {
		const matches = (app.passwords || []).filter((p) => p.secretText === secret);
		if (matches.length === 0)
			return 'invalid';
		const prop = this.data.propagation_ms || 0;
		const usable = (p) => Date.parse(p.startDateTime) <= now && now < Date.parse(p.endDateTime) &&
			(p.created_ms === undefined || now - p.created_ms >= prop);
		const ok = matches.find(usable);
		if (ok && this.catchingUp(ok, now))
			return 'invalid';
		if (ok)
			return 'ok';
		if (matches.some((p) => Date.parse(p.endDateTime) <= now))
			return 'expired';
		return 'invalid';
	}
}

function normaliseApp(appId, app) {
	app.app_id = appId;
	app.object_id = app.object_id || uuid();
	app.sp_id = app.sp_id || uuid();
	app.display_name = app.display_name || appId;
	app.passwords = app.passwords || [];
	app.certificates = app.certificates || [];
	app.owners = app.owners || [];
	for (const p of app.passwords) {
		p.keyId = p.keyId || uuid();
		p.displayName = p.displayName === undefined ? null : p.displayName;
		if (p.secretText && !p.hint)
			p.hint = p.secretText.slice(0, 3);
		p.startDateTime = p.startDateTime || graphNow();
	}
}

module.exports = { State, mergePatch };
