'use strict';
// Plumbing shared by the fake services: the HTTPS server with its control API
// (/_fake/...), scripted faults, request recording, time formats and an
// outbound HTTP(S) client for the calls the fakes make to the daemon
// (Graph validation and notifications, Nylas challenges and deliveries).
//
// Control API, served by every fake server (plain JSON, no auth):
//   POST   /_fake/state     RFC 7386 merge patch into the shared state; answers the state
//   GET    /_fake/state     the whole state, secret texts included
//   POST   /_fake/script    {"rules":[{method?, path?, body?, times?, action}]}: appends fault
//                            rules; path and body are regexes (path+query, the request body);
//                            action: {reset} | {delay_ms?, hang?, status?, headers?, body?} |
//                            {hang_after}: the request is applied as usual and only its answer
//                            is held until /_fake/release (a lost answer to a done change)
//   GET    /_fake/script    the rules still armed
//   DELETE /_fake/script    clears this server's rules
//   POST   /_fake/release   releases every hung request; {"released":N}
//   GET    /_fake/hung      {"count":N}
//   GET    /_fake/requests  {"requests":[...]}; ?path=REGEX filters on path+query
//   DELETE /_fake/requests  clears this server's log
// Services add their own control routes (see identity.js, graph.js, nylas.js).

const crypto = require('crypto');
const http = require('http');
const https = require('https');

const MAX_BODY = 16 * 1024 * 1024;

// A logger to stderr whose lines start "[TAG time]".
function makeLog(tag) {
	return (...args) => {
		process.stderr.write(`[${tag} ${new Date().toISOString()}] ${args.join(' ')}\n`);
	};
}

const log = makeLog('fake');

function uuid() {
	return crypto.randomUUID();
}

function sleep(ms) {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

function b64url(buf) {
	return Buffer.from(buf).toString('base64url');
}

function randomToken(bytes) {
	return crypto.randomBytes(bytes).toString('base64url');
}

// --- time formats -------------------------------------------------------

// Graph serialises DateTimeOffset the .NET way: UTC, up to 7 fractional
// digits ("2019-09-09T19:50:29.3086381Z" in the addPassword docs), trailing
// zeros dropped ("2024-01-01T00:00:00Z"). ticks adds the sub-millisecond
// digits (0-9999) that real timestamps carry.
function graphTime(ms, ticks = 0) {
	const iso = new Date(ms).toISOString();	// 2024-01-01T00:00:00.123Z
	let frac = iso.slice(20, 23) + String(ticks).padStart(4, '0');
	frac = frac.replace(/0+$/, '');
	return iso.slice(0, 19) + (frac ? '.' + frac : '') + 'Z';
}

// "now" for a new Graph object: 7 digits like the real service.
function graphNow() {
	return graphTime(Date.now(), crypto.randomInt(1, 10000));
}

// Graph's innerError.date: "2024-03-05T13:14:55", no zone, no fraction.
function graphInnerDate(ms = Date.now()) {
	return new Date(ms).toISOString().slice(0, 19);
}

// The identity platform's error timestamps: "2023-05-06 06:03:00Z".
function aadTimestamp(ms = Date.now()) {
	return new Date(ms).toISOString().slice(0, 19).replace('T', ' ') + 'Z';
}

// Parses an ISO-8601 time with a zone (Z or +hh:mm); NaN when it is not one.
function parseTime(s) {
	if (typeof s !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(s))
		return NaN;
	return Date.parse(s);
}

// --- request helpers ------------------------------------------------------

// The request body; rejects (and drops the request) past limit bytes.
function readBody(req, limit = MAX_BODY) {
	return new Promise((resolve, reject) => {
		const chunks = [];
		let size = 0;
		req.on('data', (c) => {
			size += c.length;
			if (size > limit) {
				reject(new Error('body too large'));
				req.destroy();
				return;
			}
			chunks.push(c);
		});
		req.on('end', () => resolve(Buffer.concat(chunks)));
		req.on('error', reject);
	});
}

function lowerHeaders(h) {
	const out = {};
	for (const [k, v] of Object.entries(h))
		out[k.toLowerCase()] = v;
	return out;
}

// An error a handler throws to answer with a service-specific error.
class HttpError extends Error {
	constructor(status, code, message, extra) {
		super(message);
		this.status = status;
		this.code = code;
		this.extra = extra || {};
	}
}

function matchRule(rule, ctx) {
	if (rule.method && rule.method.toUpperCase() !== ctx.method)
		return false;
	if (rule.path && !new RegExp(rule.path).test(ctx.rawPath))
		return false;
	if (rule.body && !new RegExp(rule.body).test(ctx.text))
		return false;
	return true;
}

// --- the server -------------------------------------------------------------

// One fake service: routes (service API), control routes, scripted rules,
// recorded requests and hung requests.
//   opts.name          "identity", "graph", "nylas", "untrusted"
//   opts.tls           {key, cert} when not the world's server certificate
//   opts.routes        [[METHOD, RegExp over the decoded path, handler(ctx)]]
//   opts.control       the same, for /_fake/ routes of this service
//   opts.error(ctx, e) answers an HttpError in the service's own format
//   opts.decorate(ctx) headers every answer of the service carries
//   opts.scriptAction(ctx, action) service-specific canned answers
//                      (aadsts, graph_error, nylas_error); true when answered
//   opts.record(ctx, entry) adds service fields to a recorded request
class FakeServer {
	constructor(world, opts) {
		this.world = world;
		this.name = opts.name;
		this.opts = opts;
		this.rules = [];
		this.requests = [];
		this.hung = [];
		this.seq = 0;
		this.server = https.createServer(opts.tls || world.tls, (req, res) => {
			this.handle(req, res).catch((e) => {
				log(this.name, 'handler crashed:', e.stack);
				if (!res.headersSent)
					this.sendRaw(res, 500, { error: 'fake crashed: ' + e.message });
			});
		});
		// Keep-alive sockets must not keep the process alive after stop.
		this.server.keepAliveTimeout = 5000;
	}

	listen() {
		return new Promise((resolve) => {
			this.server.listen(0, '127.0.0.1', () => resolve(this.server.address().port));
		});
	}

	get port() {
		return this.server.address().port;
	}

	get origin() {
		return `https://127.0.0.1:${this.port}`;
	}

	async handle(req, res) {
		let body;
		try {
			body = await readBody(req);
		} catch (e) {
			this.sendRaw(res, 413, { error: e.message });
			return;
		}
		const ctx = this.context(req, res, body);
		if (ctx.path.startsWith('/_fake/')) {
			await this.control(ctx);
			return;
		}
		this.record(ctx);
		if (await this.applyScript(ctx))
			return;
		await this.dispatch(ctx, this.opts.routes, this.opts.error);
	}

	context(req, res, body) {
		const url = new URL(req.url, 'https://' + (req.headers.host || '127.0.0.1'));
		let path;
		try {
			path = decodeURIComponent(url.pathname);
		} catch (e) {
			path = url.pathname;
		}
		const ctx = {
			server: this, world: this.world, req, res, url, path,
			method: req.method.toUpperCase(),
			rawPath: req.url,
			query: url.searchParams,
			headers: lowerHeaders(req.headers),
			body, text: body.toString('utf8'),
			params: [],
			requestId: uuid(),
			answered: false,
		};
		ctx.json = () => parseJson(ctx.text);
		ctx.send = (status, payload, headers) => this.send(ctx, status, payload, headers);
		return ctx;
	}

	record(ctx) {
		const entry = {
			seq: ++this.seq,
			service: this.name,
			method: ctx.method,
			path: ctx.rawPath,
			headers: ctx.headers,
			body: ctx.text,
			time_ms: Date.now(),
		};
		if (this.opts.record)
			this.opts.record(ctx, entry);
		this.requests.push(entry);
		ctx.recorded = entry;
	}

	// Applies the first matching rule, if any. Returns true when the request
	// has been answered (or dropped) by the rule.
	async applyScript(ctx) {
		const i = this.rules.findIndex((r) => matchRule(r, ctx));
		if (i < 0)
			return false;
		const rule = this.rules[i];
		if (rule.times > 0 && --rule.times === 0)
			this.rules.splice(i, 1);
		const a = rule.action || {};
		if (ctx.recorded)
			ctx.recorded.scripted = a;
		log(this.name, ctx.method, ctx.rawPath, 'scripted', JSON.stringify(a));
		if (a.reset) {
			ctx.req.socket.destroy();
			return true;
		}
		if (a.hang_after) {
			// Apply now, answer only when released (or never, if the caller is gone).
			const send = ctx.send;
			ctx.send = (...args) => {
				ctx.send = send;
				this.hung.push(() => send(...args));
			};
			return false;
		}
		if (a.delay_ms)
			await sleep(a.delay_ms);
		if (a.hang)
			await new Promise((resolve) => this.hung.push(resolve));
		// Service answers (aadsts, graph_error, nylas_error) first: they take
		// "status" and "headers" as overrides.
		if (this.opts.scriptAction && this.opts.scriptAction(ctx, a))
			return true;
		if (a.status) {
			this.send(ctx, a.status, a.body === undefined ? null : a.body, a.headers || {});
			return true;
		}
		return false;	// delay/hang only: answer normally
	}

	// Runs the first route matching the decoded path; onError answers the
	// HttpErrors handlers throw (each service has its own error format).
	async dispatch(ctx, routes, onError) {
		let methodMismatch = false;
		for (const [method, re, handler] of routes) {
			const m = re.exec(ctx.path);
			if (!m)
				continue;
			if (method !== ctx.method) {
				methodMismatch = true;
				continue;
			}
			ctx.params = m.slice(1);
			try {
				await handler(ctx);
			} catch (e) {
				if (!(e instanceof HttpError))
					throw e;
				if (!ctx.answered)
					onError(ctx, e);
			}
			return;
		}
		const e = methodMismatch ?
			new HttpError(405, 'MethodNotAllowed', `${ctx.method} is not allowed on ${ctx.path}`) :
			new HttpError(404, 'NotFound', `no route for ${ctx.method} ${ctx.path}`);
		onError(ctx, e);
	}

	send(ctx, status, payload, headers = {}) {
		if (ctx.answered)
			return;
		ctx.answered = true;
		const h = Object.assign({}, this.opts.decorate ? this.opts.decorate(ctx) : {}, headers);
		this.sendRaw(ctx.res, status, payload, h);
	}

	sendRaw(res, status, payload, headers = {}) {
		let data = '';
		const h = Object.assign({}, headers);
		const hasType = Object.keys(h).some((k) => k.toLowerCase() === 'content-type');
		if (payload !== null && payload !== undefined) {
			if (Buffer.isBuffer(payload) || typeof payload === 'string') {
				data = payload;
				if (!hasType)
					h['Content-Type'] = 'text/plain; charset=utf-8';
			} else {
				data = JSON.stringify(payload);
				if (!hasType)
					h['Content-Type'] = 'application/json; charset=utf-8';
			}
		}
		h['Content-Length'] = Buffer.byteLength(data);
		res.writeHead(status, h);
		res.end(data);
	}

	// --- control API ---
	async control(ctx) {
		const routes = [
			['GET', /^\/_fake\/state$/, () => ctx.send(200, this.world.state.data)],
			['POST', /^\/_fake\/state$/, () => {
				this.world.state.patch(controlJson(ctx));
				ctx.send(200, this.world.state.data);
			}],
			['POST', /^\/_fake\/script$/, () => ctx.send(200, { rules: this.addRules(controlJson(ctx)) })],
			['GET', /^\/_fake\/script$/, () => ctx.send(200, { rules: this.rules })],
			['DELETE', /^\/_fake\/script$/, () => {
				this.rules = [];
				ctx.send(200, { rules: [] });
			}],
			['POST', /^\/_fake\/release$/, () => ctx.send(200, { released: this.release() })],
			['GET', /^\/_fake\/hung$/, () => ctx.send(200, { count: this.hung.length })],
			['GET', /^\/_fake\/requests$/, () => ctx.send(200, { requests: this.listRequests(ctx) })],
			['DELETE', /^\/_fake\/requests$/, () => {
				this.requests = [];
				ctx.send(200, { requests: [] });
			}],
		].concat(this.opts.control || []);
		await this.dispatch(ctx, routes, (c, e) => c.send(e.status, { error: e.message, code: e.code }));
	}

	addRules(body) {
		if (!body || !Array.isArray(body.rules))
			throw new HttpError(400, 'BadControl', 'want {"rules":[...]}');
		for (const r of body.rules) {
			if (typeof r !== 'object' || typeof r.action !== 'object')
				throw new HttpError(400, 'BadControl', 'each rule needs an "action" object');
			if (r.path)
				new RegExp(r.path);	// a bad pattern fails here, not on the next request
			if (r.body)
				new RegExp(r.body);
			this.rules.push({
				method: r.method || null,
				path: r.path || null,
				body: r.body || null,
				// times <= 0 means "every time until cleared".
				times: r.times === undefined ? 1 : r.times,
				action: r.action,
			});
		}
		return this.rules;
	}

	release() {
		const n = this.hung.length;
		const all = this.hung;
		this.hung = [];
		all.forEach((resolve) => resolve());
		return n;
	}

	listRequests(ctx) {
		const re = ctx.query.get('path');
		if (!re)
			return this.requests;
		const r = new RegExp(re);
		return this.requests.filter((e) => r.test(e.path));
	}
}

function parseJson(text) {
	try {
		return JSON.parse(text);
	} catch (e) {
		return undefined;
	}
}

function controlJson(ctx) {
	if (ctx.text === '')
		return {};
	const v = ctx.json();
	if (v === undefined)
		throw new HttpError(400, 'BadControl', 'body is not JSON');
	return v;
}

// --- outbound client ------------------------------------------------------

// Sends one request and never throws: the result carries either
// {status, headers, body (Buffer), text, latency_ms} or {error, latency_ms}.
// HTTPS trusts only the test CA: a daemon with a bad certificate fails here
// exactly as it would fail against the real service.
function outbound(world, urlStr, { method = 'POST', headers = {}, body = null, timeoutMs = 10000 } = {}) {
	return new Promise((resolve) => {
		const start = Date.now();
		let url;
		try {
			url = new URL(urlStr);
		} catch (e) {
			resolve({ error: 'bad url: ' + urlStr, latency_ms: 0 });
			return;
		}
		const mod = url.protocol === 'https:' ? https : http;
		const opts = { method, headers: Object.assign({}, headers), timeout: timeoutMs, agent: false };
		if (url.protocol === 'https:')
			opts.ca = world.caPem;
		if (body !== null)
			opts.headers['Content-Length'] = Buffer.byteLength(body);
		let done = false;
		const finish = (r) => {
			if (done)
				return;
			done = true;
			r.latency_ms = Date.now() - start;
			resolve(r);
		};
		const req = mod.request(url, opts, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => {
				const b = Buffer.concat(chunks);
				finish({ status: res.statusCode, headers: res.headers, body: b, text: b.toString('utf8') });
			});
			res.on('error', (e) => finish({ error: e.message }));
		});
		req.on('timeout', () => {
			req.destroy(new Error('timeout'));
		});
		req.on('error', (e) => finish({ error: e.message === 'timeout' ? 'timeout' : e.message }));
		if (body !== null)
			req.write(body);
		req.end();
	});
}

// What the control API answers about an outbound call.
function outboundReport(r) {
	const out = { latency_ms: r.latency_ms };
	if (r.error) {
		out.error = r.error;
		return out;
	}
	out.status = r.status;
	out.headers = r.headers;
	out.body = r.text;
	return out;
}

// --- start -------------------------------------------------------------------

// Once every listener is up: ONE line of ports goes to stdout (what the
// Python drivers wait for), then only logs go to stderr. SIGTERM and SIGINT
// exit at once; with watchStdin so does the end of stdin, so that a test
// runner that dies leaves no server behind.
function announcePorts(ports, watchStdin, logFn = log) {
	process.stdout.write(JSON.stringify(ports) + '\n');
	logFn('listening', JSON.stringify(ports));
	for (const sig of ['SIGTERM', 'SIGINT'])
		process.on(sig, () => process.exit(0));
	if (watchStdin) {
		process.stdin.on('end', () => process.exit(0));
		process.stdin.on('error', () => process.exit(0));
		process.stdin.resume();
	}
}

module.exports = {
	FakeServer, HttpError, log, makeLog, uuid, sleep, b64url, randomToken,
	graphTime, graphNow, graphInnerDate, aadTimestamp, parseTime,
	readBody, lowerHeaders, outbound, outboundReport, parseJson, announcePorts,
};
