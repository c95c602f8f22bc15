#!/usr/bin/env node
'use strict';
// Test fakes of the three services rekey calls: the Microsoft identity
// platform (token endpoint), Microsoft Graph v1.0 and the Nylas API v3, plus
// an "untrusted" server whose certificate no test CA signed. They follow
// spec/graph.md and spec/nylas.md (the services), not rekey's client.
//
//   node tests/fakes/fake.js --certs DIR [--state FILE.json] [--watch-stdin]
//
// DIR is made by certs/make-certs.sh: server.crt/key serve identity, graph
// and nylas; untrusted.crt/key the untrusted server; ca.crt is the only CA
// the fakes trust when they call the daemon (Graph validation and
// notifications, Nylas challenges and deliveries). All listen on 127.0.0.1,
// port 0. On start ONE line goes to stdout:
//   {"identity":PORT,"graph":PORT,"nylas":PORT,"untrusted":PORT}
// then logs go to stderr only. --watch-stdin exits when stdin closes, so a
// test runner that dies leaves no fake behind. SIGTERM/SIGINT exit at once.
//
// Bases for a daemon config: azure_login_base = https://127.0.0.1:IDENTITY,
// graph_base = https://127.0.0.1:GRAPH/v1.0, nylas_api_base =
// https://127.0.0.1:NYLAS. tests/lib/fakes.py drives all this from Python.
//
// Files: common.js (server, control API, scripting, recording, outbound
// calls), state.js (state and seeding), identity.js, graph.js, nylas.js
// (each documents its routes and its own control routes).
//
// ---------------------------------------------------------------------------
// STATE (GET /_fake/state dumps it, secrets included; POST /_fake/state and
// --state seed it as an RFC 7386 merge patch: objects merge, arrays replace,
// null deletes):
// {
//   "tenants": {
//     "<tenant id>": {
//       "domains": ["contoso.onmicrosoft.com"],       aliases accepted in token URLs
//       "apps": {
//         "<appId (client id)>": {
//           "object_id": "<uuid>",                     made up when absent
//           "sp_id": "<uuid>",                         its service principal's id
//           "display_name": "...",
//           "disabled": false,                         true -> AADSTS7000112
//           "passwords": [{"keyId", "displayName", "hint", "secretText",
//                          "startDateTime", "endDateTime", "created_ms"?}],
//                         created_ms (epoch ms) counts for propagation_ms; seeded
//                         passwords without it are fully propagated
//           "sp_passwords": [{"keyId", "displayName", "hint", "startDateTime",
//                          "endDateTime"}],  its service principal's secrets (graph.js)
//           "no_sp": false,                    true -> it has no service principal (404)
//           "certificates": ["rotator.crt" | "/abs/path.crt" | "-----BEGIN ..."],
//                         relative paths are looked up in the cwd, then in --certs
//           "owners": [{"type":"user","id":"<user id>"} |
//                      {"type":"servicePrincipal","appId":"<appId of an app here>"}],
//                         user owners take their fields from "users"; inline
//                         fields override
//           "permissions": ["Application.ReadWrite.OwnedBy","User.Read.All","Policy.Read.All"]
//                         app roles of THIS app when it calls Graph (the default)
//           "created": "2024-01-01T00:00:00Z",         its createdDateTime (the default)
//           "app_management_policy": {...}            the appManagementPolicy assigned
//                         to it, as Graph shows one (id, displayName, isEnabled,
//                         restrictions.passwordCredentials[]); absent: none
//         }
//       },
//       "app_management_policy": {...}  the tenant default (tenantAppManagementPolicy as
//                         Graph shows it: isEnabled, applicationRestrictions.
//                         passwordCredentials[]); absent: the docs' example, disabled
//       "users": {"<id>": {"displayName","mail","userPrincipalName","accountEnabled",
//                          "signInSessionsValidFromDateTime","lastPasswordChangeDateTime",
//                          "deleted"?: true -> 404}}
//     }
//   },
//   "propagation_ms": 0,          a new secret is refused (7000215) this long
//   "propagation_flaky_ms": 0,    ... then refused every other request for this long
//                                 (replicas catching up: hashicorp/vault#27593 reports
//                                 failures 2 to 10 minutes after a first success)
//   "credential_change_ms": 200,  addPassword/removePassword take this long;
//                                 overlapping changes to one app fail
//   "concurrency_status": 400,    HTTP status of Directory_ConcurrencyViolation
//   "max_lifetime_days": null,    tenant app-management policy on endDateTime
//   "secret_style": "modern",     "legacy": secrets with + / [ ] : @ (docs example)
//   "page_size": 100,             Graph owners page size
//   "token_lifetime_s": 3599,     expires_in of issued tokens
//   "clock_skew_s": 300,          tolerated for an assertion's nbf
//   "unknown_graph_scope": "refuse", a scope other than this Graph's origin + /.default:
//                                 "refuse" (AADSTS500011) | "issue" (a token the fake
//                                 Graph refuses: 401 invalid audience)
//   "subscription_max_minutes": 41760,
//   "subscription_expiry_error": "minutes",  the wording of the refusal past it:
//                                 "minutes" | "timespan" (graph.js)
//   "graph_clock_offset_s": 0,    Graph's clock for that check, against the real one
//   "validation_timeout_ms": 10000,
//   "validation_token": null,     fixed validation token (default: random, with
//                                 spaces, a colon, + / = & %)
//   "validation_space": "+",      how spaces are encoded in it: "+" or "%20"
//   "subscriptions": {"<id>": {...Graph subscription..., "_tenant", "_silent"}},
//   "nylas": {
//     "api_key": "...",           the only accepted bearer
//     "application_id": "nylas-app-1",
//     "connector": {"settings": {"client_id","client_secret","tenant"?}, "scope": [...],
//                   "active_credential_id"?},
//                                 null -> the connector does not exist (404)
//     "credentials": {"<id>": {"name", "credential_data": {"client_id","client_secret","tenant"?}}},
//     "connector_get_hides_tenant": false,  GET leaves settings.tenant out
//     "credential_patch": "replace",  "replace" (documented) | "merge" (see nylas.js)
//     "grants": [{"id","provider","grant_status","email","created_at","updated_at",
//                 "credential_id","scope"}],
//     "grants_paging": "offset",  "offset" | "cursor" | "both" (see nylas.js)
//     "webhooks": {"<id>": {"webhook_url","webhook_secret","trigger_types",
//                           "compressed_delivery", ...}},
//     "sent_messages": [...],     what messages/send recorded
//     "rate_limit_per_s": null,
//     "challenge_timeout_ms": 10000
//   }
// }
//
// ---------------------------------------------------------------------------
// CONTROL API (every server; no auth; real services never use /_fake/):
//   POST/GET /_fake/state; POST/GET/DELETE /_fake/script; POST /_fake/release;
//   GET /_fake/hung; GET/DELETE /_fake/requests (details in common.js).
// Script rules: {"method"?, "path"? (regex over path+query), "times"? (default
// 1, <= 0 forever), "action"}; the first matching rule fires. Actions:
//   {"status":429,"headers":{"Retry-After":"2"},"body":{...}|"text"}  canned answer
//   {"delay_ms":N}        then the normal answer (combines with the others)
//   {"hang":true}         held until POST /_fake/release, then the normal answer
//   {"reset":true}        the socket is destroyed without an answer
//   {"aadsts":7000222}    identity: Azure's answer for that code ("context" fills
//                         the text; "status" overrides)
//   {"graph_error":"CredentialInvalidLifetimeAsPerAppPolicy"}  graph: the Graph
//                         envelope for that code ("status", "message" override)
//   {"nylas_error":"api.rate_limit_error"}  nylas: the Nylas envelope
// Service control routes: identity /_fake/tokens, /_fake/expire_tokens,
// /_fake/jwks/rotate, /_fake/jwks/requests; graph /_fake/notify (basic
// notifications, as Graph sends for users), /_fake/lifecycle, /_fake/validations;
// nylas /_fake/deliver, /_fake/grants, /_fake/challenges.
//
// The identity server also serves the token signing keys (JWKS) at
// /common/discovery/v2.0/keys and /{tenant}/discovery/v2.0/keys; they sign the
// validationTokens of Graph's rich notifications (world.signingKeys, made at
// start, in memory only: a restart means new keys).
//
// ---------------------------------------------------------------------------
// SHAPES: FROM SOURCES vs ASSUMED
// From sources (public docs, SDKs, quoted real answers):
//  - token success and error bodies (error, error_description "AADSTSn: ...
//    \r\nTrace ID: ..\r\nCorrelation ID: ..\r\nTimestamp: ..", error_codes,
//    timestamp "YYYY-MM-DD hh:mm:ssZ", trace_id, correlation_id, error_uri);
//    status/error/text of 7000215, 7000222, 7000218, 700016, 700023,
//    700024, 700027 (401 invalid_client, 400 for 700016 unauthorized_client);
//  - addPassword: 200, 7-digit times, default end = start + 2 years, hint =
//    first 3 chars, secretText only in this answer; removePassword 204;
//    reauthorize 204 (the docs; the brief said 200);
//  - CredentialInvalidLifetimeAsPerAppPolicy: 400, details[{code
//    InvalidKeyEndDate, target EndDate}], innerError {date, request-id,
//    client-request-id};
//  - the concurrency error: code Directory_ConcurrencyViolation and the exact
//    message; real answers seen with 409 and 503, spec/graph.md says 400
//    (default here, see concurrency_status);
//  - subscription validation failures (ValidationError "...must respond with
//    200 OK...", "...must exactly match validationToken...", InvalidRequest
//    "...timed out."); Graph paging with @odata.nextLink/$skiptoken;
//  - Nylas envelopes {request_id, data}, {request_id, error{type, message}},
//    webhook object fields (Node SDK), notification envelope (spec).
// Assumed (no source found; tests must not lean on the exact text):
//  - removePassword of an unknown keyId: 404 Request_ResourceNotFound;
//  - AADSTS50013 for a replayed jti, 7000219 for secret + assertion together,
//    50027 for malformed assertions or unsupported alg;
//  - messages of other subscription errors (expiration bound, unsupported
//    resource, https), of Nylas errors, the 504 provider error of a send
//    while the Microsoft secret is broken, grants limit clamp at 200;
//  - Graph InvalidAuthenticationToken texts for empty/garbage/expired tokens
//    follow commonly seen answers;
//  - the code and text of the 400 for includeResourceData on users or groups
//    (modelled on Outlook's "workload is not enabled for rich notifications");
//    the JWKS of an unknown tenant (AADSTS90002);
//    JWKS entries have no x5c (x5t = SHA-1 of the key's SPKI, not of a cert);
//    the optional claims of validationTokens beyond aud, iss, azp/appid, tid,
//    iat, nbf, exp (azpacr/appidacr "2", ver).

const fs = require('fs');
const path = require('path');
const { FakeServer, announcePorts } = require('./common');
const { State } = require('./state');
const { createIdentity, SigningKeys } = require('./identity');
const { createGraph } = require('./graph');
const { createNylas } = require('./nylas');

function parseArgs(argv) {
	const args = { certs: null, state: null, watchStdin: false };
	for (let i = 0; i < argv.length; i++) {
		if (argv[i] === '--certs')
			args.certs = argv[++i];
		else if (argv[i] === '--state')
			args.state = argv[++i];
		else if (argv[i] === '--watch-stdin')
			args.watchStdin = true;
		else
			usage(`unknown argument ${argv[i]}`);
	}
	if (!args.certs)
		usage('--certs DIR is required');
	return args;
}

function usage(msg) {
	process.stderr.write(`fake.js: ${msg}\nusage: node fake.js --certs DIR [--state FILE.json] [--watch-stdin]\n`);
	process.exit(2);
}

function readPair(dir, name) {
	return {
		cert: fs.readFileSync(path.join(dir, name + '.crt')),
		key: fs.readFileSync(path.join(dir, name + '.key')),
	};
}

// The server with a certificate no test CA signed: it answers anything 200,
// so that a client which does not verify would visibly succeed.
function createUntrusted(world, certs) {
	const answer = (ctx) => ctx.send(200, { ok: true });
	return new FakeServer(world, {
		name: 'untrusted',
		tls: readPair(certs, 'untrusted'),
		routes: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'].map((m) => [m, /^/, answer]),
		error: (ctx, e) => ctx.send(e.status, { error: e.message }),
	});
}

async function main() {
	const args = parseArgs(process.argv.slice(2));
	const world = {
		tls: readPair(args.certs, 'server'),
		caPem: fs.readFileSync(path.join(args.certs, 'ca.crt')),
		state: new State(args.certs),
		tokens: new Map(),
		jtis: new Map(),
		signingKeys: new SigningKeys(),
	};
	if (args.state)
		world.state.loadFile(args.state);
	const servers = {
		identity: createIdentity(world),
		graph: createGraph(world),
		nylas: createNylas(world),
		untrusted: createUntrusted(world, args.certs),
	};
	const ports = {};
	for (const [name, s] of Object.entries(servers))
		ports[name] = await s.listen();
	// The resource the token endpoint knows as "Graph": this cloud's Graph.
	world.graphOrigin = servers.graph.origin;
	announcePorts(ports, args.watchStdin);
}

main().catch((e) => {
	process.stderr.write(`fake.js: ${e.stack}\n`);
	process.exit(1);
});
