'use strict';
// Fake Microsoft Graph v1.0 (graph.microsoft.com). The server serves under
// /v1.0/, so a daemon's graph_base is https://127.0.0.1:PORT/v1.0.
//
// Every call needs a bearer the identity fake issued and that has not
// expired (else 401 InvalidAuthenticationToken). The caller is that token's
// app; its "permissions" (app roles, default Application.ReadWrite.OwnedBy
// + User.Read.All) and ownership decide what it may do:
//   write an app  Application.ReadWrite.All | Directory.ReadWrite.All |
//                 Application.ReadWrite.OwnedBy and listed as the app's owner
//   read an app   the above, or Application.Read.All | Directory.Read.All
//   read users    User.Read.All | User.ReadBasic.All | Directory.Read(Write).All
// else 403 Authorization_RequestDenied. Without a user-read permission an
// app's user owners come back with only @odata.type and id (spec).
//
// Routes: GET /applications?$filter=appId eq '..'|id eq '..'&$select=..;
// GET /applications/{id} and /applications(appId='..'); POST .../addPassword,
// .../removePassword; GET .../appManagementPolicies and
// /policies/defaultAppManagementPolicy (see "app management policies"); GET .../owners (paged by page_size or $top with
// @odata.nextLink/$skiptoken); GET /users/{id|upn}; POST/GET /subscriptions,
// GET/PATCH/DELETE /subscriptions/{id}, POST /subscriptions/{id}/reauthorize;
// GET /servicePrincipals?$filter=appId eq '..', GET /servicePrincipals/{id}/
// appRoleAssignments (the app's "permissions" as Graph app role ids; see below);
// GET /servicePrincipals(appId='..') with its seeded passwordCredentials.
//
// Credential changes take credential_change_ms; another add/remove on the
// same app meanwhile fails with Directory_ConcurrencyViolation (HTTP
// concurrency_status, default 400 as spec/graph.md says; public reports show
// 409 and 503 for the same code and message, so tests can set those).
//
// Subscriptions never get rich notifications here: includeResourceData true
// is refused with 400, because Graph offers rich notifications for none of
// the resources this fake accepts (users, groups). Source: the list of
// supported resources, microsoft-graph-docs-contrib
// concepts/includes/change-notifications-rich-notifications-supported-resources.md
// (2024-11-07: Copilot, Outlook, Teams; no user, no group). The error's code
// and text are assumed: the only real refusal found is for Outlook in v1.0,
// "Exchange workload is not enabled for rich notifications"
// (microsoftgraph/java-spring-webhooks-sample#235), and this one is modelled
// on it. Notifications are therefore basic: no encryptedContent, no
// validationTokens (change-notifications-with-resource-data.md: tokens come
// with rich notifications only).
//
// Expiration (create and renew): past now + subscription_max_minutes (41760
// for users, spec/graph.md) is refused with 400. Two real wordings are known
// and both can be answered (subscription_expiry_error):
//   "minutes" (default): code ExtensionError, "Subscription expiration can
//     only be N minutes in the future." (quoted from a real answer in
//     microsoftgraph/microsoft-graph-docs-contrib#7726, an Outlook
//     subscription; which code directory subscriptions use is not known);
//   "timespan": code InvalidRequest (assumed), "Operation: Create; Exception:
//     [Status Code: BadRequest; Reason: Expiration time '<time>' ('<span>' from
//     now) is beyond allowed max '<d.hh:mm:ss>'.]" (quoted in a public script
//     for a Teams subscription; the sign of its span there is negative, copied
//     as it was).
// graph_clock_offset_s (default 0) moves the fake's clock for that check
// only: -600 is a Graph whose clock is ten minutes behind the caller's, so
// that asking for exactly the maximum by one's own clock is refused.
//
// Control routes of this service:
//   POST /_fake/notify     {"subscription_id", "items":[{changeType, resource|user_id,
//                          resourceData?, clientState?, subscription_id?, id?, tenantId?,
//                          extra?}], "client_state_override"?, "url"?, "token"?,
//                          "token_version"?}
//                          -> POSTs the change notification batch to the subscription's
//                          notificationUrl; answers {status, body, headers, latency_ms,
//                          url, payload} (or {error, latency_ms, url, payload})
//   POST /_fake/lifecycle  {"subscription_id", "lifecycleEvent"?, "client_state_override"?}
//                          -> the same to lifecycleNotificationUrl
//   GET  /_fake/validations every validation handshake made, with its outcome
//
// A basic notification, as Graph sends for users (changeType "updated" or
// "deleted"): the plain fields and resourceData with @odata.type, @odata.id
// and id, nothing else. What real Graph never sends, for forgery tests only:
//   "extra" (item): fields merged into the item as given (e.g. a made-up
//     encryptedContent);
//   "token": "valid" (default) | "expired" | "not_yet_valid" | "forged" (same kid,
//     another key) | "unknown_kid" | "wrong_aud" | "wrong_iss" | "wrong_appid" |
//     "none" (no validationTokens); applies to every token of the batch. A
//     batch carries validationTokens only when "token" is given.
//   "token_version": 2 (default: login.microsoftonline.com/{tid}/v2.0, azp) or 1
//     (sts.windows.net/{tid}/, appid).

const crypto = require('crypto');
const {
	FakeServer, HttpError, uuid, sleep, graphTime, graphNow, graphInnerDate, parseTime,
	outbound, outboundReport,
} = require('./common');
const { TOKEN_KINDS } = require('./identity');

const DEFAULT_PERMISSIONS = ['Application.ReadWrite.OwnedBy', 'User.Read.All', 'Policy.Read.All'];
const USER_DEFAULT_FIELDS = ['businessPhones', 'displayName', 'givenName', 'jobTitle', 'mail',
	'mobilePhone', 'officeLocation', 'preferredLanguage', 'surname', 'userPrincipalName', 'id'];
const CONCURRENCY_MESSAGE = 'Error due to concurrent requests being made to the tenant. Please wait briefly and retry.';
const APP = String.raw`^/v1\.0/applications(?:/([^/()]+)|\(appId='([^']*)'\))`;
const CONTENT_TYPE = 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';
const SUPPORTED_RESOURCES = [/^users$/i, /^users\/[^/]+$/i, /^groups$/i, /^groups\/[^/]+\/(members|owners)$/i, /^groups\/[^/]+$/i];
// Accepted, then never delivered: spec/graph.md warns of exactly this.
const SILENT_RESOURCES = [/^applications(\/.*)?$/i, /^servicePrincipals(\/.*)?$/i];

// Canned errors for scripts: code -> [status, message]. Messages of
// Directory_ConcurrencyViolation, CredentialInvalidLifetimeAsPerAppPolicy,
// Authorization_RequestDenied and the subscription validation failures are
// quoted from real answers; the rest follow Graph's documented codes.
const GRAPH_ERRORS = {
	Directory_ConcurrencyViolation: [null, CONCURRENCY_MESSAGE],
	CredentialInvalidLifetimeAsPerAppPolicy: [400, "Credential lifetime exceeds the max value allowed as per assigned policy 'fake-policy'."],
	Authorization_RequestDenied: [403, 'Insufficient privileges to complete the operation.'],
	InvalidAuthenticationToken: [401, 'Lifetime validation failed, the token is expired.'],
	Request_ResourceNotFound: [404, "Resource 'unknown' does not exist or one of its queried reference-property objects are not present."],
	Request_BadRequest: [400, 'Invalid request.'],
	Request_ThrottledTemporarily: [429, 'Your request is throttled temporarily. Please try after 2 seconds.'],
	TooManyRequests: [429, 'Too many requests.'],
	ServiceUnavailable: [503, 'Service is unavailable. Please retry later.'],
	GatewayTimeout: [504, 'Gateway timeout.'],
	generalException: [500, 'General exception while processing.'],
	ValidationError: [400, 'Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.'],
};

function gerr(status, code, message, details) {
	return new HttpError(status, code, message, details ? { details } : {});
}

function sendGraphError(ctx, status, code, message, extra = {}, headers = {}) {
	const error = { code, message };
	if (extra.details)
		error.details = extra.details;
	error.innerError = {
		date: graphInnerDate(),
		'request-id': ctx.requestId,
		'client-request-id': ctx.headers['client-request-id'] || ctx.requestId,
	};
	const h = Object.assign({}, headers);
	if (status === 401) {
		h['WWW-Authenticate'] = 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"';
	}
	ctx.send(status, { error }, h);
}

function concurrencyError(world) {
	return gerr(world.state.data.concurrency_status || 400, 'Directory_ConcurrencyViolation', CONCURRENCY_MESSAGE);
}

function notFound(id) {
	return gerr(404, 'Request_ResourceNotFound',
		`Resource '${id}' does not exist or one of its queried reference-property objects are not present.`);
}

function denied() {
	return gerr(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
}

function jsonBody(ctx) {
	if (ctx.text.trim() === '')
		return {};
	const v = ctx.json();
	if (typeof v !== 'object' || v === null || Array.isArray(v)) {
		throw gerr(400, 'BadRequest', 'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.');
	}
	return v;
}

// --- authentication and authorisation ------------------------------------------

function bearer(ctx) {
	const m = /^Bearer\s+(\S+)\s*$/i.exec(ctx.headers.authorization || '');
	if (!m)
		throw gerr(401, 'InvalidAuthenticationToken', 'Access token is empty.');
	const tok = ctx.world.tokens.get(m[1]);
	if (!tok)
		throw gerr(401, 'InvalidAuthenticationToken', 'CompactToken parsing failed with error code: 80049217');
	if (tok.exp_ms <= Date.now())
		throw gerr(401, 'InvalidAuthenticationToken', 'Lifetime validation failed, the token is expired.');
	// A token for another resource (another cloud's Graph) is not for this one.
	if (tok.aud !== undefined && tok.aud !== ctx.server.origin)
		throw gerr(401, 'InvalidAuthenticationToken', 'Access token validation failure. Invalid audience.');
	const tenant = ctx.world.state.tenant(tok.tenant);
	const caller = tenant && tenant.apps[tok.client_id];
	if (!caller)
		throw gerr(401, 'InvalidAuthenticationToken', 'Access token validation failure. Invalid audience.');
	return { tenant, caller, perms: caller.permissions || DEFAULT_PERMISSIONS };
}

function has(auth, ...perms) {
	return perms.some((p) => auth.perms.includes(p));
}

function owns(auth, app) {
	return app.owners.some((o) => o.type === 'servicePrincipal' && o.appId === auth.caller.app_id);
}

function canWrite(auth, app) {
	return has(auth, 'Application.ReadWrite.All', 'Directory.ReadWrite.All') ||
		(has(auth, 'Application.ReadWrite.OwnedBy') && owns(auth, app));
}

function canRead(auth, app) {
	return canWrite(auth, app) || has(auth, 'Application.Read.All', 'Directory.Read.All');
}

function canReadUsers(auth) {
	return has(auth, 'User.Read.All', 'User.ReadBasic.All', 'User.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All');
}

// The app a path names (object id or appId), if the caller may see it.
function resolveApp(ctx, auth) {
	const [oid, appId] = ctx.params;
	const state = ctx.world.state;
	const app = oid !== undefined ? state.appByObjectId(auth.tenant, oid) : state.app(auth.tenant, appId);
	if (!app)
		throw notFound(oid !== undefined ? oid : appId);
	if (!canRead(auth, app))
		throw denied();
	return app;
}

// --- representations ---------------------------------------------------------

function passwordJson(p) {
	return {
		customKeyIdentifier: null,
		displayName: p.displayName,
		endDateTime: p.endDateTime,
		hint: p.hint,
		keyId: p.keyId,
		secretText: null,
		startDateTime: p.startDateTime,
	};
}

function keyCredentialJson(c) {
	const h = c.sha1Hex.toLowerCase();
	return {
		customKeyIdentifier: c.sha1Hex,
		displayName: 'CN=' + (/CN=([^\n,]+)/.exec(c.x509.subject) || [null, 'unknown'])[1],
		endDateTime: graphTime(Date.parse(c.x509.validTo)),
		key: null,
		keyId: `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`,
		startDateTime: graphTime(Date.parse(c.x509.validFrom)),
		type: 'AsymmetricX509Cert',
		usage: 'Verify',
	};
}

function appJson(world, app) {
	return {
		id: app.object_id,
		deletedDateTime: null,
		appId: app.app_id,
		displayName: app.display_name,
		signInAudience: app.sign_in_audience || 'AzureADMyOrg',
		createdDateTime: app.created || DEFAULT_APP_CREATED,
		keyCredentials: world.state.certificates(app).map(keyCredentialJson),
		passwordCredentials: app.passwords.map(passwordJson),
	};
}

// Keeps the $select'ed properties (names compare case-insensitively, as
// Graph does); everything when there is no $select.
function selectFields(obj, select) {
	if (!select)
		return obj;
	const want = select.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
	const out = {};
	for (const [k, v] of Object.entries(obj)) {
		if (k.startsWith('@odata') || want.includes(k.toLowerCase()))
			out[k] = v;
	}
	return out;
}

function contextUrl(ctx, what, select) {
	return `${ctx.server.origin}/v1.0/$metadata#${what}${select ? '(' + select + ')' : ''}`;
}

// --- applications --------------------------------------------------------------

// $filter=appId eq 'x' | id eq 'x' | displayName eq 'x' (OData doubles quotes).
function parseFilter(filter) {
	const m = /^\s*(appId|id|displayName)\s+eq\s+'((?:[^']|'')*)'\s*$/i.exec(filter);
	if (!m)
		throw gerr(400, 'Request_UnsupportedQuery', 'Unsupported or invalid query filter clause specified for property \'' + filter + "' of resource 'Application'.");
	const field = { appid: 'app_id', id: 'object_id', displayname: 'display_name' }[m[1].toLowerCase()];
	return (app) => app[field] === m[2].replace(/''/g, "'");
}

function listApplications(ctx) {
	const auth = bearer(ctx);
	const filter = ctx.query.get('$filter');
	const select = ctx.query.get('$select');
	const match = filter ? parseFilter(filter) : () => true;
	const apps = Object.values(auth.tenant.apps).filter((a) => canRead(auth, a) && match(a));
	ctx.send(200, {
		'@odata.context': contextUrl(ctx, 'applications', select),
		value: apps.map((a) => selectFields(appJson(ctx.world, a), select)),
	});
}

function getApplication(ctx) {
	const auth = bearer(ctx);
	const app = resolveApp(ctx, auth);
	const select = ctx.query.get('$select');
	const body = Object.assign({ '@odata.context': contextUrl(ctx, 'applications', select) + '/$entity' },
		selectFields(appJson(ctx.world, app), select));
	ctx.send(200, body);
}

// Marks the app busy for credential_change_ms, or fails when a change is
// already in flight (Graph rewrites the credential list as a whole).
async function credentialChange(ctx, auth, app) {
	const key = auth.tenant.id + '/' + app.app_id;
	const busy = ctx.world.busyApps;
	if ((busy.get(key) || 0) > Date.now())
		throw concurrencyError(ctx.world);
	const ms = ctx.world.state.data.credential_change_ms || 0;
	busy.set(key, Date.now() + ms);
	await sleep(ms);
}

// Azure's secret alphabet: modern secrets look like "abc8Q~" + 34 more;
// legacy ones (the addPassword docs example) carry + / [ ] : @ and the like,
// which a client must form-encode correctly.
function newSecret(style) {
	const alnum = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
	const pick = (alphabet, n) => Array.from({ length: n }, () => alphabet[crypto.randomInt(alphabet.length)]).join('');
	if (style === 'legacy')
		return pick(alnum, 1) + pick(alnum + '[]@+-:.=?*_/', 31);
	return pick(alnum, 3) + pick('0123456789', 1) + 'Q~' + pick(alnum + '_.~-', 34);
}

function addYearsUtc(ms, years) {
	const d = new Date(ms);
	d.setUTCFullYear(d.getUTCFullYear() + years);
	return d.getTime();
}

function badProperty(prop) {
	return gerr(400, 'Request_BadRequest', `Invalid value specified for property '${prop}' of resource 'PasswordCredential'.`);
}

// Works out start and end of a new password: start defaults to now, end to
// start + 2 years (the addPassword docs); both keep the 7-digit format.
function passwordTimes(pc) {
	const ticks = crypto.randomInt(1, 10000);
	let start = Date.now();
	if (pc.startDateTime !== undefined && pc.startDateTime !== null) {
		start = parseTime(pc.startDateTime);
		if (Number.isNaN(start))
			throw badProperty('startDateTime');
	}
	let end = addYearsUtc(start, 2);
	if (pc.endDateTime !== undefined && pc.endDateTime !== null) {
		end = parseTime(pc.endDateTime);
		if (Number.isNaN(end))
			throw badProperty('endDateTime');
	}
	if (end <= start)
		throw badProperty('endDateTime');
	const fmt = (ms, given) => (given ? graphTime(ms) : graphTime(ms, ticks));
	return { start, end, startText: fmt(start, pc.startDateTime), endText: fmt(end, pc.endDateTime) };
}

function checkLifetimePolicy(world, t) {
	const days = world.state.data.max_lifetime_days;
	if (days === null || days === undefined || t.end - t.start <= days * 86400e3)
		return;
	const msg = "Credential lifetime exceeds the max value allowed as per assigned policy 'fake-policy'.";
	throw gerr(400, 'CredentialInvalidLifetimeAsPerAppPolicy', msg,
		[{ code: 'InvalidKeyEndDate', message: msg, target: 'EndDate' }]);
}

// --- app management policies -----------------------------------------------------
//
// GET /policies/defaultAppManagementPolicy (tenantappmanagementpolicy-get.md:
// the tenant's default, "isEnabled" false and empty restrictions unless an
// admin set them; its app restrictions are "applicationRestrictions") and
// GET /applications/{id}/appManagementPolicies (the navigation property of
// application: the appManagementPolicy assigned to it, at most one, as a
// collection "value"; its restrictions are "restrictions"; paths as in
// hashicorp/go-azure-sdk's ListApplicationByIdAppManagementPolicies and the
// Graph SDKs). Both need Policy.Read.All or Policy.Read.ApplicationConfiguration
// (or ...ReadWrite.ApplicationConfiguration): else 403
// Authorization_RequestDenied, as for any permission Graph finds missing.
//
// Enforcement on addPassword, as Graph documents it: an assigned policy is
// adopted "over the tenant-wide tenantAppManagementPolicy"
// (New-MgApplicationAppManagementPolicyByRef; tenantAppManagementPolicy:
// "applies to all apps ... unless overridden when an appManagementPolicy is
// applied"); a restriction counts when the policy isEnabled, its "state" is
// "enabled" (or absent, as before that property existed) and the app was
// created on or after restrictForAppsCreatedAfterDateTime
// (passwordcredentialconfiguration.md). passwordAddition refuses every new
// secret: 400 CredentialTypeNotAllowedAsPerAppPolicy (the code Microsoft's own
// Teams Toolkit matches after addPassword, OfficeDev/TeamsFx
// packages/fx-core/src/component/driver/aad/utility/constants.ts; the message
// is assumed, modelled on the lifetime one). passwordLifetime refuses an
// endDateTime past start + maxLifetime (an ISO 8601 duration, added here in
// calendar units) with 400 CredentialInvalidLifetimeAsPerAppPolicy, as
// max_lifetime_days does.
const DEFAULT_APP_CREATED = '2024-01-01T00:00:00Z';
const POLICY_READERS = ['Policy.Read.All', 'Policy.Read.ApplicationConfiguration', 'Policy.ReadWrite.ApplicationConfiguration'];
const TENANT_POLICY_DEFAULT = {
	id: '00000000-0000-0000-0000-000000000000',
	displayName: 'Default app management tenant policy',
	description: 'Default tenant policy that enforces app management restrictions on applications and service principals. To apply policy to targeted resources, create a new policy under appManagementPolicies collection.',
	isEnabled: false,
	applicationRestrictions: { passwordCredentials: [], keyCredentials: [] },
	servicePrincipalRestrictions: { passwordCredentials: [], keyCredentials: [] },
};

function tenantPolicy(tenant) {
	return tenant.app_management_policy || TENANT_POLICY_DEFAULT;
}

function getTenantPolicy(ctx) {
	const auth = bearer(ctx);
	if (!has(auth, ...POLICY_READERS))
		throw denied();
	ctx.send(200, Object.assign({
		'@odata.context': `${ctx.server.origin}/v1.0/$metadata#policies/defaultAppManagementPolicy/$entity`,
	}, tenantPolicy(auth.tenant)));
}

function listAppPolicies(ctx) {
	const auth = bearer(ctx);
	const app = resolveApp(ctx, auth);
	if (!has(auth, ...POLICY_READERS))
		throw denied();
	ctx.send(200, {
		'@odata.context': `${ctx.server.origin}/v1.0/$metadata#appManagementPolicies`,
		value: app.app_management_policy ? [app.app_management_policy] : [],
	});
}

// The restriction of type `type` that applies to app, from the policy in force, or null.
function appRestriction(tenant, app, type) {
	const assigned = app.app_management_policy;
	const p = assigned || tenantPolicy(tenant);
	const rules = (assigned ? p.restrictions : p.applicationRestrictions) || {};
	if (!p.isEnabled)
		return null;
	const created = parseTime(app.created || DEFAULT_APP_CREATED);
	const r = (rules.passwordCredentials || []).find((x) => x.restrictionType === type);
	if (!r || (r.state !== undefined && r.state !== 'enabled'))
		return null;
	if (r.restrictForAppsCreatedAfterDateTime && created < parseTime(r.restrictForAppsCreatedAfterDateTime))
		return null;
	return Object.assign({ policyId: p.id }, r);
}

// start + an ISO 8601 duration (calendar years and months), in ms; NaN when unreadable.
function addDuration(start, text) {
	const m = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(text || '');
	if (!m)
		return NaN;
	const n = (i) => Number(m[i] || 0);
	const d = new Date(start);
	d.setUTCFullYear(d.getUTCFullYear() + n(1));
	d.setUTCMonth(d.getUTCMonth() + n(2));
	return d.getTime() + ((n(3) * 7 + n(4)) * 86400 + n(5) * 3600 + n(6) * 60 + n(7)) * 1000;
}

function checkAppManagementPolicy(tenant, app, t) {
	const ban = appRestriction(tenant, app, 'passwordAddition');
	if (ban)
		throw gerr(400, 'CredentialTypeNotAllowedAsPerAppPolicy',
			`Credential type not allowed as per assigned policy '${ban.policyId}'.`);
	const cap = appRestriction(tenant, app, 'passwordLifetime');
	if (cap && t.end > addDuration(t.start, cap.maxLifetime)) {
		const msg = `Credential lifetime exceeds the max value allowed as per assigned policy '${cap.policyId}'.`;
		throw gerr(400, 'CredentialInvalidLifetimeAsPerAppPolicy', msg,
			[{ code: 'InvalidKeyEndDate', message: msg, target: 'EndDate' }]);
	}
}

// An app that also signs in personal Microsoft accounts holds at most two
// client secrets: Graph answers 400 TooManyAppPasswords to a third
// (Azure/azure-cli#12946; the error code as Graph SDK users match it; the
// message as the portal shows it, "You can only add a maximum of 2 encrypted
// credentials.", jpazureid/blog#492). Seed an app with
// "sign_in_audience": "AzureADandPersonalMicrosoftAccount" (or
// "PersonalMicrosoftAccount") for it; other audiences have no such limit.
const PERSONAL_AUDIENCES = ['AzureADandPersonalMicrosoftAccount', 'PersonalMicrosoftAccount'];
const PERSONAL_MAX_SECRETS = 2;

function checkSecretLimit(app) {
	if (!PERSONAL_AUDIENCES.includes(app.sign_in_audience) ||
	    app.passwords.length < PERSONAL_MAX_SECRETS)
		return;
	throw gerr(400, 'TooManyAppPasswords', 'You can only add a maximum of 2 encrypted credentials.');
}

async function addPassword(ctx) {
	const auth = bearer(ctx);
	const app = resolveApp(ctx, auth);
	if (!canWrite(auth, app))
		throw denied();
	const pc = jsonBody(ctx).passwordCredential || {};
	const t = passwordTimes(pc);
	checkLifetimePolicy(ctx.world, t);
	checkAppManagementPolicy(auth.tenant, app, t);
	checkSecretLimit(app);
	await credentialChange(ctx, auth, app);
	const secret = newSecret(ctx.world.state.data.secret_style);
	const p = {
		keyId: uuid(),
		displayName: pc.displayName === undefined ? null : pc.displayName,
		hint: secret.slice(0, 3),
		secretText: secret,
		startDateTime: t.startText,
		endDateTime: t.endText,
		created_ms: Date.now(),
	};
	app.passwords.push(p);
	ctx.send(200, Object.assign({ '@odata.context': `${ctx.server.origin}/v1.0/$metadata#microsoft.graph.passwordCredential` },
		passwordJson(p), { secretText: secret }));
}

async function removePassword(ctx) {
	const auth = bearer(ctx);
	const app = resolveApp(ctx, auth);
	if (!canWrite(auth, app))
		throw denied();
	const keyId = jsonBody(ctx).keyId;
	if (typeof keyId !== 'string' || !/^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$/i.test(keyId))
		throw gerr(400, 'Request_BadRequest', "Invalid value specified for property 'keyId' of resource 'PasswordCredential'.");
	// Undocumented in Graph: an unknown keyId is answered 404 here (assumption).
	if (!app.passwords.some((p) => p.keyId.toLowerCase() === keyId.toLowerCase()))
		throw notFound(keyId);
	await credentialChange(ctx, auth, app);
	app.passwords = app.passwords.filter((p) => p.keyId.toLowerCase() !== keyId.toLowerCase());
	ctx.send(204, null);
}

// --- owners and users ------------------------------------------------------------

function userJson(u, fields) {
	const out = {};
	for (const f of fields) {
		if (u[f] !== undefined)
			out[f] = u[f];
		else
			out[f] = f === 'businessPhones' ? [] : null;
	}
	return out;
}

function ownerJson(o, tenant, fullUsers) {
	if (o.type === 'servicePrincipal') {
		const a = tenant.apps[o.appId] || {};
		return {
			'@odata.type': '#microsoft.graph.servicePrincipal',
			id: o.id || a.sp_id || null,
			displayName: o.displayName || a.display_name || null,
			appId: o.appId,
		};
	}
	const u = Object.assign({}, tenant.users[o.id] || {}, o);
	if (!fullUsers)
		return { '@odata.type': '#microsoft.graph.user', id: u.id };
	return Object.assign({ '@odata.type': '#microsoft.graph.user' }, userJson(u, USER_DEFAULT_FIELDS));
}

function skipToken(offset) {
	return Buffer.from(JSON.stringify({ o: offset })).toString('base64url');
}

function readSkipToken(t) {
	try {
		const v = JSON.parse(Buffer.from(t, 'base64url').toString('utf8'));
		if (Number.isInteger(v.o) && v.o >= 0)
			return v.o;
	} catch (e) {
		// Falls through to the error below.
	}
	throw gerr(400, 'Request_BadRequest', 'Invalid paging token.');
}

function listOwners(ctx) {
	const auth = bearer(ctx);
	const app = resolveApp(ctx, auth);
	const top = ctx.query.get('$top') ? parseInt(ctx.query.get('$top'), 10) : ctx.world.state.data.page_size;
	if (!(top > 0))
		throw gerr(400, 'Request_BadRequest', "Invalid value for '$top'.");
	const offset = ctx.query.get('$skiptoken') ? readSkipToken(ctx.query.get('$skiptoken')) : 0;
	const all = app.owners.map((o) => ownerJson(o, auth.tenant, canReadUsers(auth)));
	const body = { '@odata.context': contextUrl(ctx, 'directoryObjects'), value: all.slice(offset, offset + top) };
	if (offset + top < all.length) {
		// Graph writes the OData options with a literal '$'.
		const q = (ctx.query.get('$top') ? `$top=${top}&` : '') + `$skiptoken=${skipToken(offset + top)}`;
		body['@odata.nextLink'] = `${ctx.server.origin}/v1.0/applications/${app.object_id}/owners?${q}`;
	}
	ctx.send(200, body);
}

function getUser(ctx) {
	const auth = bearer(ctx);
	if (!canReadUsers(auth))
		throw denied();
	const key = ctx.params[0];
	const u = Object.values(auth.tenant.users).find((x) =>
		x.id === key || (x.userPrincipalName || '').toLowerCase() === key.toLowerCase());
	if (!u || u.deleted)
		throw notFound(key);
	const select = ctx.query.get('$select');
	const fields = select ? select.split(',').map((s) => s.trim()).filter(Boolean) : USER_DEFAULT_FIELDS;
	ctx.send(200, Object.assign({ '@odata.context': contextUrl(ctx, 'users', select) + '/$entity' }, userJson(u, fields)));
}

// --- subscriptions ----------------------------------------------------------------

function subscriptionJson(ctx, s) {
	const out = { '@odata.context': contextUrl(ctx, 'subscriptions') + '/$entity' };
	for (const [k, v] of Object.entries(s)) {
		if (!k.startsWith('_'))
			out[k] = v;
	}
	return out;
}

// A subscription the caller created and Graph has not yet dropped: one
// that was not renewed in time is deleted (spec).
function liveSubscription(ctx, auth, id) {
	const subs = ctx.world.state.data.subscriptions;
	const s = subs[id];
	if (s && Date.parse(s.expirationDateTime) <= Date.now()) {
		delete subs[id];
		return null;
	}
	if (!s || (auth && s.applicationId !== auth.caller.app_id))
		return null;
	return s;
}

function subNotFound(id) {
	return gerr(404, 'ResourceNotFound', `The object was not found. Subscription '${id}'.`);
}

// .NET's TimeSpan text, [-]d.hh:mm:ss[.fffffff], as the "timespan" wording prints it.
function timeSpan(ms) {
	const neg = ms < 0;
	let t = Math.abs(ms);
	const frac = Math.floor((t % 1000) * 10000);
	t = Math.floor(t / 1000);
	const pad = (n) => String(n).padStart(2, '0');
	const d = Math.floor(t / 86400);
	const hms = `${pad(Math.floor(t / 3600) % 24)}:${pad(Math.floor(t / 60) % 60)}:${pad(t % 60)}`;
	return `${neg ? '-' : ''}${d ? d + '.' : ''}${hms}${frac ? '.' + String(frac).padStart(7, '0') : ''}`;
}

function expiryRefused(ctx, ms, now, max, op) {
	if (ctx.world.state.data.subscription_expiry_error === 'timespan') {
		return gerr(400, 'InvalidRequest', `Operation: ${op}; Exception: [Status Code: BadRequest; ` +
			`Reason: Expiration time '${new Date(ms).toISOString()}' ('${timeSpan(now - ms)}' from now) ` +
			`is beyond allowed max '${timeSpan(max * 60e3)}'.]`);
	}
	return gerr(400, 'ExtensionError', `Subscription expiration can only be ${max} minutes in the future.`);
}

function checkExpiration(ctx, text, op) {
	const ms = parseTime(text);
	if (Number.isNaN(ms))
		throw gerr(400, 'InvalidRequest', "Invalid value for property 'expirationDateTime'.");
	const max = ctx.world.state.data.subscription_max_minutes;
	const now = Date.now() + (ctx.world.state.data.graph_clock_offset_s || 0) * 1000;
	if (ms <= now)
		throw gerr(400, 'InvalidRequest', 'Subscription expiration must be in the future.');
	if (ms > now + max * 60e3)
		throw expiryRefused(ctx, ms, now, max, op);
}

function checkHttps(field, url) {
	let u;
	try {
		u = new URL(url);
	} catch (e) {
		u = null;
	}
	if (!u || u.protocol !== 'https:')
		throw gerr(400, 'InvalidRequest', `The ${field} must be an absolute https URL.`);
}

// Checks the fields of a new subscription; answers whether the resource is
// one Graph accepts and then never delivers.
function checkSubscription(ctx, auth, b) {
	for (const f of ['changeType', 'notificationUrl', 'resource', 'expirationDateTime']) {
		if (typeof b[f] !== 'string' || b[f] === '')
			throw gerr(400, 'InvalidRequest', `The request is missing the required property '${f}'.`);
	}
	for (const t of b.changeType.split(',')) {
		if (!['created', 'updated', 'deleted'].includes(t.trim()))
			throw gerr(400, 'InvalidRequest', `Invalid changeType '${t}'.`);
	}
	checkHttps('notificationUrl', b.notificationUrl);
	if (b.lifecycleNotificationUrl !== undefined && b.lifecycleNotificationUrl !== null)
		checkHttps('lifecycleNotificationUrl', b.lifecycleNotificationUrl);
	if (b.clientState !== undefined && b.clientState !== null &&
		(typeof b.clientState !== 'string' || b.clientState.length > 128))
		throw gerr(400, 'InvalidRequest', 'clientState must be a string of at most 128 characters.');
	checkExpiration(ctx, b.expirationDateTime, 'Create');
	const res = b.resource.replace(/^\//, '');
	if (SILENT_RESOURCES.some((r) => r.test(res)))
		return true;
	if (!SUPPORTED_RESOURCES.some((r) => r.test(res)))
		throw gerr(400, 'InvalidRequest', `Resource '${b.resource}' is not supported for change notifications.`);
	// No resource here supports rich notifications (see the top of this file).
	if (b.includeResourceData === true)
		throw gerr(400, 'ExtensionError', `Directory workload is not enabled for rich notifications: resource '${b.resource}' does not support includeResourceData.`);
	if (!canReadUsers(auth))
		throw denied();
	return false;
}

// The validation token is opaque (spec): this one has spaces, colons and
// characters that must be percent-encoded, so that a daemon which does not
// URL-decode it (or decodes '+' wrongly) fails.
function validationToken(world) {
	return world.state.data.validation_token ||
		`Validation: Testing client application reachability for subscription Request-Id: ${uuid()} +/=&%`;
}

// Encodes like Graph's own example (lower-case %3a, '+' for a space);
// validation_space "%20" switches to %20.
function encodeToken(token, space) {
	let enc = encodeURIComponent(token).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16));
	enc = enc.replace(/%[0-9A-F]{2}/g, (s) => s.toLowerCase());
	return space === '%20' ? enc : enc.replace(/%20/g, '+');
}

// Performs Graph's validation handshake against url; null when it passed,
// else the Graph error to answer the create with.
async function validateEndpoint(ctx, url) {
	const world = ctx.world;
	const token = validationToken(world);
	const full = url + (url.includes('?') ? '&' : '?') + 'validationToken=' + encodeToken(token, world.state.data.validation_space);
	const r = await outbound(world, full, {
		method: 'POST', headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: '',
		timeoutMs: world.state.data.validation_timeout_ms,
	});
	const failure = validationFailure(r, token);
	world.validations.push({ url: full, token, time_ms: Date.now(), result: outboundReport(r), failure });
	return failure;
}

function validationFailure(r, token) {
	const prefix = 'Subscription validation request failed. ';
	if (r.error === 'timeout')
		return gerr(400, 'InvalidRequest', 'Subscription validation request timed out.');
	if (r.error || r.status !== 200)
		return gerr(400, 'ValidationError', prefix + 'Notification endpoint must respond with 200 OK to validation request.');
	if (!/^text\/plain\b/i.test(r.headers['content-type'] || ''))
		return gerr(400, 'ValidationError', prefix + 'Must respond with 200 OK and a text/plain body.');
	if (r.text !== token)
		return gerr(400, 'ValidationError', prefix + 'Response must exactly match validationToken query parameter.');
	return null;
}

async function createSubscription(ctx) {
	const auth = bearer(ctx);
	const b = jsonBody(ctx);
	const silent = checkSubscription(ctx, auth, b);
	for (const url of [b.notificationUrl, b.lifecycleNotificationUrl]) {
		if (!url)
			continue;
		const failure = await validateEndpoint(ctx, url);
		if (failure)
			throw failure;
	}
	const s = {
		id: uuid(),
		resource: b.resource,
		applicationId: auth.caller.app_id,
		changeType: b.changeType,
		clientState: b.clientState === undefined ? null : b.clientState,
		notificationUrl: b.notificationUrl,
		notificationQueryOptions: null,
		lifecycleNotificationUrl: b.lifecycleNotificationUrl || null,
		expirationDateTime: graphTime(parseTime(b.expirationDateTime)),
		creatorId: auth.caller.sp_id,
		includeResourceData: false,
		latestSupportedTlsVersion: b.latestSupportedTlsVersion || 'v1_2',
		encryptionCertificate: null,
		encryptionCertificateId: null,
		notificationUrlAppId: null,
		_tenant: auth.tenant.id,
		_silent: silent,
		_created: graphNow(),
	};
	ctx.world.state.data.subscriptions[s.id] = s;
	ctx.send(201, subscriptionJson(ctx, s));
}

function listSubscriptions(ctx) {
	const auth = bearer(ctx);
	const ids = Object.keys(ctx.world.state.data.subscriptions);
	const value = ids.map((id) => liveSubscription(ctx, auth, id)).filter(Boolean).map((s) => {
		const j = subscriptionJson(ctx, s);
		delete j['@odata.context'];
		return j;
	});
	ctx.send(200, { '@odata.context': contextUrl(ctx, 'subscriptions'), value });
}

function getSubscription(ctx) {
	const auth = bearer(ctx);
	const s = liveSubscription(ctx, auth, ctx.params[0]);
	if (!s)
		throw subNotFound(ctx.params[0]);
	ctx.send(200, subscriptionJson(ctx, s));
}

function renewSubscription(ctx) {
	const auth = bearer(ctx);
	const s = liveSubscription(ctx, auth, ctx.params[0]);
	if (!s)
		throw subNotFound(ctx.params[0]);
	const b = jsonBody(ctx);
	if (b.lifecycleNotificationUrl !== undefined && b.lifecycleNotificationUrl !== s.lifecycleNotificationUrl)
		throw gerr(400, 'InvalidRequest', 'lifecycleNotificationUrl cannot be changed: delete and recreate the subscription.');
	if (b.expirationDateTime !== undefined) {
		checkExpiration(ctx, b.expirationDateTime, 'Update');
		s.expirationDateTime = graphTime(parseTime(b.expirationDateTime));
	}
	s._reauthorized = graphNow();	// a renewing PATCH also reauthorizes (spec)
	ctx.send(200, subscriptionJson(ctx, s));
}

function deleteSubscription(ctx) {
	const auth = bearer(ctx);
	if (!liveSubscription(ctx, auth, ctx.params[0]))
		throw subNotFound(ctx.params[0]);
	delete ctx.world.state.data.subscriptions[ctx.params[0]];
	ctx.send(204, null);
}

function reauthorizeSubscription(ctx) {
	const auth = bearer(ctx);
	const s = liveSubscription(ctx, auth, ctx.params[0]);
	if (!s)
		throw subNotFound(ctx.params[0]);
	s._reauthorized = graphNow();
	ctx.send(204, null);	// the reauthorize docs: 204 No Content
}

// --- notification delivery (control) ------------------------------------------------

function controlError(status, message) {
	return new HttpError(status, 'BadControl', message);
}

function subscriptionFor(ctx, id) {
	const s = liveSubscription(ctx, null, id);
	if (!s)
		throw controlError(404, `no live subscription '${id}'`);
	if (s._silent)
		throw controlError(409, `subscription '${id}' is on ${s.resource}: Graph accepts it and never delivers`);
	return s;
}

// One change notification item, shaped like Graph's directory notifications.
function changeItem(ctx, item, defaults) {
	const s = subscriptionFor(ctx, item.subscription_id || defaults.subscription_id);
	const resource = item.resource || `Users/${item.user_id}`;
	const id = resource.split('/').pop();
	const clientState = 'clientState' in item ? item.clientState :
		('client_state_override' in defaults ? defaults.client_state_override : s.clientState);
	return Object.assign({
		id: item.id || uuid(),
		subscriptionId: s.id,
		subscriptionExpirationDateTime: s.expirationDateTime,
		clientState,
		changeType: item.changeType || 'updated',
		resource,
		tenantId: item.tenantId || s._tenant,
		resourceData: Object.assign({
			'@odata.type': '#Microsoft.Graph.User',
			'@odata.id': resource,
			id,
			organizationId: item.tenantId || s._tenant,
		}, item.resourceData || {}),
	}, item.extra || {});
}

// validationTokens: one per distinct (creating app, tenant) of the batch's
// subscriptions, in order of appearance; null for token "none".
function validationTokens(ctx, items, b) {
	const kind = b.token === undefined || b.token === null ? 'valid' : b.token;
	if (!TOKEN_KINDS.includes(kind))
		throw controlError(400, `token must be one of ${TOKEN_KINDS.join(', ')}`);
	const version = b.token_version === undefined || b.token_version === null ? 2 : Number(b.token_version);
	if (version !== 1 && version !== 2)
		throw controlError(400, 'token_version must be 1 or 2');
	if (kind === 'none')
		return null;
	const seen = new Set();
	const tokens = [];
	for (const it of items) {
		const s = subscriptionFor(ctx, it.subscription_id || b.subscription_id);
		const key = s.applicationId + ' ' + s._tenant;
		if (seen.has(key))
			continue;
		seen.add(key);
		tokens.push(ctx.world.signingKeys.validationToken({
			appId: s.applicationId, tenant: s._tenant, version, kind,
		}));
	}
	return tokens;
}

async function post(ctx, url, payload) {
	const body = JSON.stringify(payload);
	const r = await outbound(ctx.world, url, {
		method: 'POST', body, timeoutMs: 30000,
		headers: { 'Content-Type': 'application/json; charset=utf-8' },
	});
	ctx.send(200, Object.assign(outboundReport(r), { url, payload }));
}

async function notify(ctx) {
	const b = ctx.json() || {};
	const items = Array.isArray(b.items) && b.items.length ? b.items : [{}];
	if (b.encrypted)
		throw controlError(400, 'Graph sends no rich notifications for users or groups (see graph.js)');
	const value = items.map((it) => changeItem(ctx, it, b));
	const s = subscriptionFor(ctx, items[0].subscription_id || b.subscription_id);
	const payload = { value };
	if (b.token !== undefined && b.token !== null) {
		const tokens = validationTokens(ctx, items, b);
		if (tokens)
			payload.validationTokens = tokens;
	}
	await post(ctx, b.url || s.notificationUrl, payload);
}

async function lifecycle(ctx) {
	const b = ctx.json() || {};
	const s = subscriptionFor(ctx, b.subscription_id);
	if (!s.lifecycleNotificationUrl)
		throw controlError(409, 'the subscription has no lifecycleNotificationUrl');
	const item = {
		subscriptionId: s.id,
		subscriptionExpirationDateTime: s.expirationDateTime,
		tenantId: s._tenant,
		clientState: 'client_state_override' in b ? b.client_state_override : s.clientState,
		lifecycleEvent: b.lifecycleEvent || 'reauthorizationRequired',
	};
	await post(ctx, b.url || s.lifecycleNotificationUrl, { value: [item] });
}

// --- service principals (rekey doctor) -------------------------------------------
// What rekey doctor reads to tell what the rotator may do. Sources
// (microsoft-graph-docs-contrib, api-reference/v1.0): serviceprincipal-list
// (GET /servicePrincipals, $filter on appId; application permissions
// Application.Read.All, or the higher Application.ReadWrite.OwnedBy,
// Application.ReadWrite.All, Directory.Read.All) and
// serviceprincipal-list-approleassignments (GET /servicePrincipals/{id}/
// appRoleAssignments; Application.Read.All, Directory.Read.All,
// Application.ReadWrite.All, Directory.ReadWrite.All: OwnedBy is NOT among
// them, so a least-privileged rotator gets 403 here). An assignment is an
// appRoleAssignment: id, createdDateTime, appRoleId, principalDisplayName,
// principalId, principalType "ServicePrincipal", resourceDisplayName
// "Microsoft Graph", resourceId (the docs' example response).
//
// The docs do not say which service principals an OwnedBy-only caller sees
// in the list: state "sp_list_owned_only" true shows it none (it owns no
// service principal here), else (default) every one of the tenant.
//
// App role ids of Microsoft Graph's application permissions, the same in
// every tenant (learn.microsoft.com/graph/permissions-reference). An app's
// "permissions" are names in the state.
const GRAPH_APP_ROLES = {
	'Application.ReadWrite.OwnedBy': '18a4783c-866b-4cc7-a460-3d5e5662c884',
	'Application.ReadWrite.All': '1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9',
	'Application.Read.All': '9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30',
	'Directory.ReadWrite.All': '19dbc75e-c2e2-444c-a770-ec69d8559fc7',
	'Directory.Read.All': '7ab1d382-f21e-4acd-a863-ba3e13f7da61',
	'User.Read.All': 'df021288-bdef-4463-88db-98f22de89214',
};
// The Microsoft Graph service principal's object id differs per tenant; the
// docs' example value here.
const GRAPH_SP_ID = 'fea94d6d-b5bf-44d2-a887-4f72a8d74f44';
const SP_READERS = ['Application.Read.All', 'Application.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'];

function spJson(app) {
	return {
		id: app.sp_id,
		appId: app.app_id,
		displayName: app.display_name,
		servicePrincipalType: 'Application',
		accountEnabled: true,
	};
}

// $filter=appId eq 'x' | id eq 'x' | displayName eq 'x' on service principals.
function spFilter(filter) {
	const m = /^\s*(appId|id|displayName)\s+eq\s+'((?:[^']|'')*)'\s*$/i.exec(filter);
	if (!m)
		throw gerr(400, 'Request_UnsupportedQuery', "Unsupported or invalid query filter clause specified for property '" + filter + "' of resource 'ServicePrincipal'.");
	const field = { appid: 'app_id', id: 'sp_id', displayname: 'display_name' }[m[1].toLowerCase()];
	return (app) => app[field] === m[2].replace(/''/g, "'");
}

function listServicePrincipals(ctx) {
	const auth = bearer(ctx);
	const reader = has(auth, ...SP_READERS);
	if (!reader && !has(auth, 'Application.ReadWrite.OwnedBy'))
		throw denied();
	const filter = ctx.query.get('$filter');
	const select = ctx.query.get('$select');
	const match = filter ? spFilter(filter) : () => true;
	const ownedOnly = !reader && ctx.world.state.data.sp_list_owned_only;
	const apps = ownedOnly ? [] : Object.values(auth.tenant.apps).filter(match);
	ctx.send(200, {
		'@odata.context': contextUrl(ctx, 'servicePrincipals', select),
		value: apps.map((a) => selectFields(spJson(a), select)),
	});
}

function listAppRoleAssignments(ctx) {
	const auth = bearer(ctx);
	if (!has(auth, ...SP_READERS))
		throw denied();
	const app = Object.values(auth.tenant.apps).find((a) => a.sp_id === ctx.params[0]);
	if (!app)
		throw notFound(ctx.params[0]);
	const perms = app.permissions || DEFAULT_PERMISSIONS;
	const value = perms.filter((p) => GRAPH_APP_ROLES[p]).map((p) => ({
		id: crypto.createHash('sha256').update(app.sp_id + p).digest('base64url').slice(0, 43),
		deletedDateTime: null,
		appRoleId: GRAPH_APP_ROLES[p],
		createdDateTime: '2026-01-01T00:00:00.0000000Z',
		principalDisplayName: app.display_name,
		principalId: app.sp_id,
		principalType: 'ServicePrincipal',
		resourceDisplayName: 'Microsoft Graph',
		resourceId: GRAPH_SP_ID,
	}));
	ctx.send(200, { '@odata.context': contextUrl(ctx, 'appRoleAssignments'), value });
}

// --- a service principal by appId (the expiry poll's inventory) ----------------------
// GET /servicePrincipals(appId='{appId}') (serviceprincipal-get, microsoft-graph-
// docs-contrib api-reference/v1.0/api/serviceprincipal-get.md: "You can address
// the service principal using either its id or appId"; 200 with the
// servicePrincipal, $select honoured). Its passwordCredentials are
// passwordCredential resources (resources/passwordcredential.md: keyId,
// displayName, hint, startDateTime, endDateTime, customKeyIdentifier;
// secretText is only ever returned by addPassword, so null here). They are
// seeded per app as "sp_passwords" (same fields as "passwords"; a secretText
// gives the hint) and never usable at the token endpoint here: nothing in
// rekey signs in with them. Secrets do live there in real tenants
// (hashicorp/vault#16610).
// Permissions (the same page): Application.Read.All, Application.ReadWrite.
// OwnedBy, Application.ReadWrite.All, Directory.Read.All; "a service principal
// can retrieve its own ... service principal details" without any. Whether
// OwnedBy reaches a service principal the caller does not own is not said:
// state "sp_get_owned_only" true refuses it (403 Authorization_RequestDenied,
// the caller owns no service principal here), else (default) it is read. An
// appId without a service principal in the tenant is 404
// Request_ResourceNotFound (the error Graph gives for a missing object).
function spPasswordJson(p) {
	return passwordJson({
		displayName: p.displayName === undefined ? null : p.displayName,
		endDateTime: p.endDateTime,
		hint: p.hint || (p.secretText ? p.secretText.slice(0, 3) : null),
		keyId: p.keyId,
		startDateTime: p.startDateTime || null,
	});
}

function getServicePrincipalByAppId(ctx) {
	const auth = bearer(ctx);
	const appId = ctx.params[0].replace(/''/g, "'");
	const app = Object.values(auth.tenant.apps).find((a) => a.app_id === appId && !a.no_sp);
	if (!app)
		throw notFound(appId);
	const self = app.app_id === auth.caller.app_id;
	const ownedOnly = ctx.world.state.data.sp_get_owned_only;
	if (!self && !has(auth, ...SP_READERS) &&
		!(has(auth, 'Application.ReadWrite.OwnedBy') && !ownedOnly))
		throw denied();
	const select = ctx.query.get('$select');
	const sp = Object.assign(spJson(app), {
		passwordCredentials: (app.sp_passwords || []).map(spPasswordJson),
	});
	ctx.send(200, Object.assign({
		'@odata.context': contextUrl(ctx, 'servicePrincipals', select) + '/$entity',
	}, selectFields(sp, select)));
}

// --- the server ------------------------------------------------------------------

function onError(ctx, e) {
	sendGraphError(ctx, e.status, e.code, e.message, e.extra);
}

function scriptAction(ctx, a) {
	if (a.graph_error === undefined)
		return false;
	const [status, message] = GRAPH_ERRORS[a.graph_error] || [400, 'Scripted error.'];
	const st = a.status || status || ctx.world.state.data.concurrency_status || 400;
	let extra = {};
	if (a.graph_error === 'CredentialInvalidLifetimeAsPerAppPolicy')
		extra = { details: [{ code: 'InvalidKeyEndDate', message, target: 'EndDate' }] };
	sendGraphError(ctx, st, a.graph_error, a.message || message, extra, a.headers || {});
	return true;
}

function createGraph(world) {
	world.busyApps = new Map();
	world.validations = [];
	return new FakeServer(world, {
		name: 'graph',
		routes: [
			['GET', /^\/v1\.0\/applications$/, listApplications],
			['GET', new RegExp(APP + '$'), getApplication],
			['POST', new RegExp(APP + '/addPassword$'), addPassword],
			['POST', new RegExp(APP + '/removePassword$'), removePassword],
			['GET', new RegExp(APP + '/owners$'), listOwners],
			['GET', new RegExp(APP + '/appManagementPolicies$'), listAppPolicies],
			['GET', /^\/v1\.0\/policies\/defaultAppManagementPolicy$/, getTenantPolicy],
			['GET', /^\/v1\.0\/users\/([^/]+)$/, getUser],
			['POST', /^\/v1\.0\/subscriptions$/, createSubscription],
			['GET', /^\/v1\.0\/subscriptions$/, listSubscriptions],
			['GET', /^\/v1\.0\/subscriptions\/([^/]+)$/, getSubscription],
			['PATCH', /^\/v1\.0\/subscriptions\/([^/]+)$/, renewSubscription],
			['DELETE', /^\/v1\.0\/subscriptions\/([^/]+)$/, deleteSubscription],
			['POST', /^\/v1\.0\/subscriptions\/([^/]+)\/reauthorize$/, reauthorizeSubscription],
			['GET', /^\/v1\.0\/servicePrincipals$/, listServicePrincipals],
			['GET', /^\/v1\.0\/servicePrincipals\(appId='((?:[^']|'')*)'\)$/, getServicePrincipalByAppId],
			['GET', /^\/v1\.0\/servicePrincipals\/([^/]+)\/appRoleAssignments$/, listAppRoleAssignments],
		],
		control: [
			['POST', /^\/_fake\/notify$/, notify],
			['POST', /^\/_fake\/lifecycle$/, lifecycle],
			['GET', /^\/_fake\/validations$/, (ctx) => ctx.send(200, { validations: world.validations })],
		],
		error: onError,
		decorate: (ctx) => ({
			'request-id': ctx.requestId,
			'client-request-id': ctx.headers['client-request-id'] || ctx.requestId,
			'Content-Type': CONTENT_TYPE,
			'Strict-Transport-Security': 'max-age=31536000',
		}),
		scriptAction,
	});
}

module.exports = { createGraph };
