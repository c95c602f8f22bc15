#!/usr/bin/env node
'use strict';
// Local test sinks for rekey's owner notifications: an SMTP server (a plain
// port that offers STARTTLS, and an implicit-TLS port), and one HTTPS server
// standing in for Slack and Teams incoming webhooks and for a generic JSON
// webhook signed the Standard Webhooks way (https://www.standardwebhooks.com).
// They record what they receive and answer scripted failures.
//
//   node tests/fakes/sinks.js --certs DIR [--watch-stdin]
//        [--smtp-auth USER:PASS] [--webhook-secret whsec_...]
//
// DIR is made by certs/make-certs.sh; every listener serves server.crt/key
// (127.0.0.1, signed by ca.crt). All listen on 127.0.0.1, port 0. On start
// ONE line goes to stdout:
//   {"smtp":PORT,"smtps":PORT,"hooks":PORT}
// then logs go to stderr only. --watch-stdin exits when stdin closes, so a
// test runner that dies leaves no sink behind. SIGTERM/SIGINT exit at once.
// tests/lib/sinks.py drives all this from Python (and passes the secrets
// through the control API, not the command line).
// It shares common.js with the fakes for reading bodies, logging and the
// start-up line.
//
// ---------------------------------------------------------------------------
// SMTP (RFC 5321, 3207 STARTTLS, 4954 AUTH, 1870 SIZE, 2920 PIPELINING)
//   smtp  port: greeting, EHLO offers STARTTLS; MAIL before STARTTLS is refused
//         with 530 5.7.0 "Must issue a STARTTLS command first" (rekey must
//         never send in clear). After STARTTLS the session starts over: EHLO
//         again; commands pipelined behind STARTTLS are discarded (RFC 3207
//         section 5, the STARTTLS injection attack) and logged as "injected".
//   smtps port: TLS from the first byte, no STARTTLS.
//   With SMTP auth configured, EHLO after TLS offers AUTH PLAIN LOGIN; MAIL
//   before a successful AUTH gets 530; AUTH before TLS gets 538; wrong
//   credentials 535. PLAIN takes an initial response or the "334 " form.
//   Lines end in CRLF (a bare LF in a command gets 500). DATA is
//   dot-terminated and dot-unstuffed; a bare LF inside the message is kept
//   and flagged ("bare_lf": true). Limits: command line 4096 bytes, message
//   10 MiB (SIZE), 100 recipients, 5 minutes idle.
//   Every accepted message is recorded (GET /_sink/mails):
//     {"seq","queue_id","from","to":[...],"data","size","tls":true,
//      "auth_user":null|"user","port_kind":"starttls"|"implicit","ehlo",
//      "received_ms","bare_lf", "headers":{lower-case name: unfolded value of
//      its first occurrence}, "header_list":[[name,value],...] (all, in order),
//      "headers_decoded" (RFC 2047 encoded-words decoded), "body" (after the
//      blank line), "body_decoded" (when Content-Transfer-Encoding is
//      quoted-printable or base64), "parts" (multipart/*: the same fields per
//      part), "unanswered": true (a scripted drop or hang at DATA_END)}
//   Every command and its reply go to GET /_sink/smtp_log (AUTH data masked).
//
// HOOKS (one HTTPS server; any suffix after the kind, so a test can use
// several URLs): /slack/..., /teams/..., /webhook/...; anything else is 404
// and recorded with kind "other".
//   slack:   POST application/json with a non-empty string "text" or a
//            non-empty "blocks" array -> 200 "ok" (text/plain); a body that
//            is not a JSON object sent as application/json, or a "text" that
//            is not a string -> 400 "invalid_payload"; an object without text
//            or blocks -> 400 "no_text" (Slack's documented errors).
//   teams:   POST JSON, a MessageCard ("@type":"MessageCard" with text,
//            summary or sections) or {"type":"message","attachments":[{
//            "contentType":"application/vnd.microsoft.card.adaptive",
//            "content":{"type":"AdaptiveCard","body":[...]}}]} -> 200 "1" (the
//            legacy connector's answer); anything else -> 400 with a reason.
//   webhook: Standard Webhooks: webhook-id, webhook-timestamp (integer unix
//            seconds, within the tolerance, 300 s by default) and
//            webhook-signature (space-separated "v1,<base64 HMAC-SHA256>" over
//            "${id}.${timestamp}.${raw body}", the key being the base64 after
//            "whsec_"); one matching v1 signature -> 200 {"verified": true};
//            else 401 with the reason (also when no secret is configured).
//   Every request is recorded (GET /_sink/posts):
//     {"seq","kind","method","path","headers"(lower-case),"body","json"
//      (parsed or null),"status" (answered; null when never answered),
//      "valid","reason"?,"received_ms", webhook: "verified","webhook_id",
//      "webhook_timestamp"; "scripted"?, "hung"?, "unanswered"?}
//   The payload is checked (and "valid"/"verified" recorded) even when a
//   script answers instead.
//
// ---------------------------------------------------------------------------
// CONTROL API (on the hooks server, HTTPS, JSON, no auth; under /_sink/, which
// no hook path can reach since those start with /slack, /teams or /webhook):
//   GET  /_sink/mails              {"mails":[...]}
//   GET  /_sink/posts[?kind=K]     {"posts":[...]}  (K: slack|teams|webhook|other)
//   GET  /_sink/smtp_log           {"log":[{"conn","port_kind","tls","cmd","reply",
//                                   "scripted"?,"injected"?}]}
//   POST /_sink/script             {"kind":K,"actions":[...]} appends to K's queue;
//                                  answers {"kind":K,"script":[what is left]}
//   GET  /_sink/script?kind=K      {"kind":K,"script":[...]}
//   POST /_sink/release            answers every hung HTTP request normally;
//                                  {"released":N}
//   POST /_sink/reset              releases hung requests, closes hung SMTP
//                                  sessions, clears records, log and scripts
//                                  (not the configuration); {"released":N}
//   GET  /_sink/config             {"smtp_auth":USER|null,"webhook_secret":bool,
//                                   "webhook_tolerance_s":N|null}
//   POST /_sink/config             {"smtp_auth":{"user","pass"}|null,
//                                   "webhook_secret":"whsec_..."|null,
//                                   "webhook_tolerance_s":N|null (null: no check)};
//                                  absent keys are kept
// Scripts are queues consumed in order; each action serves "times" uses
// (default 1; 0 = every use until reset).
//   smtp:  {"at":"MAIL"|"RCPT"|"DATA"|"DATA_END","reply":"451 4.3.0 try later"}
//          {"at":...,"action":"drop"}   close the connection without answering
//          {"at":...,"action":"hang"}   never answer, ignore further input
//          An action at MAIL..DATA_END is taken by the next transaction (the
//          next MAIL that passes the TLS and AUTH checks) and fires when that
//          transaction reaches its stage (at RCPT: for every RCPT of it); a
//          transaction reset before then uses it up all the same. At DATA_END
//          a reply rejects the message (not recorded); drop and hang record it
//          with "unanswered": true ("sent but not acknowledged").
//          {"at":"CONNECT", "reply"|"action"} is taken by the next connection:
//          the reply replaces the greeting and the connection is closed.
//          A "421 ..." reply always closes the connection after it.
//   slack|teams|webhook, taken by the next request of that kind:
//          {"status":500,"headers":{...}?,"body":"..."?}   canned answer
//          {"action":"hang"}   held until /_sink/release or /_sink/reset (then
//                              answered normally) or until the client gives up
//          {"action":"drop"}   the connection is closed without an answer
//          {"delay_ms":N}      combines with the others, or alone: answer late

const crypto = require('crypto');
const fs = require('fs');
const https = require('https');
const net = require('net');
const tls = require('tls');
const { announcePorts, lowerHeaders, makeLog, readBody, sleep } = require('./common');

const MAX_LINE = 4096;			// one SMTP command line, CRLF included
const MAX_DATA_LINE = 64 * 1024;	// buffered before a data line is flushed unfinished
const MAX_MESSAGE = 10 * 1024 * 1024;	// the SIZE we announce
const MAX_RCPT = 100;
const MAX_HTTP_BODY = 1024 * 1024;
const MAX_RECORDS = 10000;		// per list; older entries are dropped
const MAX_MIME_DEPTH = 5;
const IDLE_MS = 5 * 60 * 1000;
const HOSTNAME = 'localhost';
const SMTP_STAGES = ['CONNECT', 'MAIL', 'RCPT', 'DATA', 'DATA_END'];
const HOOK_KINDS = ['slack', 'teams', 'webhook'];
const CRLF = Buffer.from('\r\n');

const sink = {
	secureContext: null,
	smtpAuth: null,		// {user, pass}
	webhookKey: null,	// Buffer: the HMAC key
	webhookTolerance: 300,	// seconds, or null for no timestamp check
	mails: [],
	posts: [],
	smtpLog: [],
	scripts: { smtp: [], slack: [], teams: [], webhook: [] },
	hung: new Set(),	// resolvers of held HTTP requests
	hungSessions: new Set(),
	seq: 0,
	connSeq: 0,
};

const log = makeLog('sinks');

function pushCapped(list, entry) {
	list.push(entry);
	if (list.length > MAX_RECORDS)
		list.shift();
}

// Takes one use of the first action of a queue when accept(action) says it
// applies here; returns a copy without the counter, or null.
function takeAction(queue, accept) {
	const a = queue[0];
	if (!a || !accept(a))
		return null;
	if (a.times > 0 && --a.times === 0)
		queue.shift();
	const copy = Object.assign({}, a);
	delete copy.times;
	return copy;
}

function sameSecret(a, b) {
	const ha = crypto.createHash('sha256').update(String(a)).digest();
	const hb = crypto.createHash('sha256').update(String(b)).digest();
	return crypto.timingSafeEqual(ha, hb);
}

// --- MIME: just enough to let tests read what rekey sends ---------------------

function decodeCharset(buf, charset) {
	try {
		return new TextDecoder((charset || 'utf-8').toLowerCase()).decode(buf);
	} catch (e) {
		return buf.toString('utf8');
	}
}

function decodeQp(text) {
	const soft = text.replace(/=\r?\n/g, '');
	const bytes = [];
	for (let i = 0; i < soft.length; i++) {
		const hex = soft.slice(i + 1, i + 3);
		if (soft[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
			bytes.push(parseInt(hex, 16));
			i += 2;
		} else {
			for (const b of Buffer.from(soft[i], 'utf8'))
				bytes.push(b);
		}
	}
	return Buffer.from(bytes);
}

// RFC 2047 encoded-words (=?charset?B|Q?text?=); the space between two of
// them is not part of the text.
function decodeWords(value) {
	const joined = value.replace(/(\?=)[ \t]+(?==\?)/g, '$1');
	return joined.replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (all, charset, enc, text) => {
		const buf = enc.toUpperCase() === 'B' ?
			Buffer.from(text, 'base64') : decodeQp(text.replace(/_/g, ' '));
		return decodeCharset(buf, charset.replace(/\*.*$/, ''));
	});
}

// Header block -> [[lower-case name, unfolded value], ...] (CRLF lines only).
function parseHeaderList(head) {
	const list = [];
	for (const line of head.split('\r\n')) {
		if (/^[ \t]/.test(line) && list.length > 0) {
			list[list.length - 1][1] += line;
			continue;
		}
		const colon = line.indexOf(':');
		if (colon <= 0)
			continue;
		list.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1)]);
	}
	return list.map(([n, v]) => [n, v.trim()]);
}

function parseContentType(value) {
	const out = { type: '', params: {} };
	if (!value)
		return out;
	out.type = value.split(';')[0].trim().toLowerCase();
	const re = /;\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)/g;
	let m;
	while ((m = re.exec(value)) !== null) {
		let v = m[2];
		if (v.startsWith('"'))
			v = v.slice(1, -1).replace(/\\(.)/g, '$1');
		out.params[m[1].toLowerCase()] = v;
	}
	return out;
}

function splitMultipart(body, boundary) {
	const parts = [];
	let current = null;
	for (const line of body.split('\r\n')) {
		if (line === '--' + boundary + '--' || line.trimEnd() === '--' + boundary + '--') {
			if (current)
				parts.push(current.join('\r\n'));
			return parts;
		}
		if (line.trimEnd() === '--' + boundary) {
			if (current)
				parts.push(current.join('\r\n'));
			current = [];
			continue;
		}
		if (current)
			current.push(line);
	}
	if (current)
		parts.push(current.join('\r\n'));
	return parts;
}

function parseEntity(text, depth = 0) {
	let head = '';
	let body = '';
	const sep = text.indexOf('\r\n\r\n');
	if (text.startsWith('\r\n'))
		body = text.slice(2);
	else if (sep < 0)
		head = text;
	else {
		head = text.slice(0, sep);
		body = text.slice(sep + 4);
	}
	const list = parseHeaderList(head);
	const out = { headers: {}, headers_decoded: {}, header_list: list, body };
	for (const [n, v] of list) {
		if (!(n in out.headers)) {
			out.headers[n] = v;
			out.headers_decoded[n] = decodeWords(v);
		}
	}
	const ctype = parseContentType(out.headers['content-type']);
	const cte = (out.headers['content-transfer-encoding'] || '').trim().toLowerCase();
	if (cte === 'quoted-printable')
		out.body_decoded = decodeCharset(decodeQp(body), ctype.params.charset);
	else if (cte === 'base64')
		out.body_decoded = decodeCharset(Buffer.from(body.replace(/\s+/g, ''), 'base64'),
		    ctype.params.charset);
	if (ctype.type.startsWith('multipart/') && ctype.params.boundary && depth < MAX_MIME_DEPTH)
		out.parts = splitMultipart(body, ctype.params.boundary).map((p) => parseEntity(p, depth + 1));
	return out;
}

// --- SMTP -------------------------------------------------------------------

// Session modes, in the order a session meets them.
const MODE_COMMAND = 'command';		// reading command lines
const MODE_AUTH = 'auth';		// reading an AUTH continuation line
const MODE_DATA = 'data';		// reading the message after 354
const MODE_UPGRADING = 'upgrading';	// STARTTLS answered, handshake running
const MODE_HUNG = 'hung';		// scripted hang: input ignored, nothing answered
const MODE_CLOSED = 'closed';

const NOT_IMPLEMENTED = ['VRFY', 'EXPN', 'HELP', 'TURN', 'ETRN', 'ATRN', 'BDAT', 'SEND', 'SOML', 'SAML'];
const ADDRESS = /^[^\s<>@]+@[^\s<>@]+$/;

class SmtpSession {
	constructor(socket, portKind) {
		this.id = ++sink.connSeq;
		this.portKind = portKind;	// "starttls" | "implicit"
		this.tls = portKind === 'implicit';
		this.buf = Buffer.alloc(0);
		this.mode = MODE_COMMAND;
		this.skipLine = false;
		this.helo = null;
		this.authUser = null;
		this.auth = null;		// {mech, step, user} while in MODE_AUTH
		this.tx = null;			// {from, to, action}
		this.data = null;
		this.entry = null;		// the log entry of the command being answered
		this.attach(socket);
		this.greet();
	}

	attach(socket) {
		this.socket = socket;
		socket.on('data', (d) => this.onData(d));
		socket.on('error', (e) => log(`smtp#${this.id}`, 'socket error:', e.message));
		socket.on('close', () => this.closed());
		socket.setTimeout(IDLE_MS, () => {
			if (this.mode === MODE_HUNG) {
				socket.destroy();
				return;
			}
			this.reply('421 4.4.2 ' + HOSTNAME + ' Error: timeout exceeded');
			this.close();
		});
	}

	closed() {
		if (this.mode === MODE_UPGRADING)
			return;		// the plain socket is now under the TLS one
		this.mode = MODE_CLOSED;
		sink.hungSessions.delete(this);
	}

	greet() {
		const a = takeAction(sink.scripts.smtp, (x) => x.at === 'CONNECT');
		this.entry = this.logEntry('(connect)');
		if (!a) {
			this.reply(`220 ${HOSTNAME} ESMTP rekey test sink`);
			return;
		}
		this.entry.scripted = true;
		if (!this.failAction(a))
			return;
		this.close();
	}

	logEntry(cmd) {
		const e = { conn: this.id, port_kind: this.portKind, tls: this.tls, cmd, reply: null, ms: Date.now() };
		pushCapped(sink.smtpLog, e);
		return e;
	}

	reply(text) {
		if (this.mode === MODE_CLOSED || this.socket.destroyed)
			return;
		if (this.entry && this.entry.reply === null)
			this.entry.reply = text;
		else if (this.entry)
			this.entry.reply += '\n' + text;
		this.socket.write(text + '\r\n');
	}

	close() {
		this.mode = MODE_CLOSED;
		this.socket.end();
	}

	// A scripted failure: a reply (true: the session goes on, unless 421),
	// a drop or a hang (false).
	failAction(a) {
		if (this.entry)
			this.entry.scripted = true;
		if (a.action === 'drop') {
			log(`smtp#${this.id}`, 'scripted drop at', a.at);
			this.mode = MODE_CLOSED;
			this.socket.destroy();
			return false;
		}
		if (a.action === 'hang') {
			log(`smtp#${this.id}`, 'scripted hang at', a.at);
			this.mode = MODE_HUNG;
			sink.hungSessions.add(this);
			return false;
		}
		log(`smtp#${this.id}`, 'scripted reply at', a.at + ':', a.reply);
		this.reply(a.reply);
		if (a.reply.startsWith('421')) {
			this.close();
			return false;
		}
		return true;
	}

	onData(d) {
		if (this.mode === MODE_HUNG || this.mode === MODE_CLOSED)
			return;
		this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
		this.pump();
	}

	// Handles every complete line in the buffer: clients may pipeline
	// commands, and split them anywhere.
	pump() {
		for (;;) {
			if (this.mode === MODE_DATA) {
				if (!this.pumpData())
					return;
				continue;
			}
			if (this.mode !== MODE_COMMAND && this.mode !== MODE_AUTH)
				return;
			const nl = this.buf.indexOf(10);
			if (nl < 0) {
				if (this.buf.length >= MAX_LINE) {
					this.entry = this.logEntry('(line too long)');
					this.reply('500 5.5.2 Error: line too long');
					this.buf = Buffer.alloc(0);
					this.skipLine = true;
				}
				return;
			}
			const raw = this.buf.subarray(0, nl);
			this.buf = this.buf.subarray(nl + 1);
			if (this.skipLine) {
				this.skipLine = false;
				continue;
			}
			if (raw.length === 0 || raw[raw.length - 1] !== 13) {
				this.entry = this.logEntry(raw.toString('utf8'));
				this.reply('500 5.5.2 Error: bare <LF> received');
				continue;
			}
			this.onLine(raw.subarray(0, raw.length - 1).toString('utf8'));
		}
	}

	onLine(line) {
		if (this.mode === MODE_AUTH) {
			this.entry = this.logEntry('(auth data)');
			this.authStep(line);
			return;
		}
		const sp = line.indexOf(' ');
		const verb = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
		const arg = sp < 0 ? '' : line.slice(sp + 1);
		this.entry = this.logEntry(verb === 'AUTH' ? line.split(' ').slice(0, 2).join(' ') +
		    (line.split(' ').length > 2 ? ' ***' : '') : line);
		switch (verb) {
		case 'HELO':
		case 'EHLO':
			this.hello(verb, arg.trim());
			break;
		case 'STARTTLS':
			this.startTls(arg);
			break;
		case 'AUTH':
			this.authStart(arg);
			break;
		case 'MAIL':
			this.mail(arg);
			break;
		case 'RCPT':
			this.rcpt(arg);
			break;
		case 'DATA':
			this.dataStart(arg);
			break;
		case 'RSET':
			this.tx = null;
			this.reply('250 2.0.0 Ok');
			break;
		case 'NOOP':
			this.reply('250 2.0.0 Ok');
			break;
		case 'QUIT':
			this.reply('221 2.0.0 Bye');
			this.close();
			break;
		default:
			if (NOT_IMPLEMENTED.includes(verb))
				this.reply('502 5.5.1 Error: command not implemented');
			else
				this.reply('500 5.5.2 Error: command not recognized');
		}
	}

	hello(verb, name) {
		if (!name || /\s/.test(name)) {
			this.reply(`501 5.5.4 Syntax: ${verb} hostname`);
			return;
		}
		this.helo = name;
		this.tx = null;
		if (verb === 'HELO') {
			this.reply(`250 ${HOSTNAME}`);
			return;
		}
		const lines = [`${HOSTNAME} greets ${name}`, 'PIPELINING', `SIZE ${MAX_MESSAGE}`, '8BITMIME',
			'ENHANCEDSTATUSCODES'];
		if (!this.tls)
			lines.push('STARTTLS');
		if (this.tls && sink.smtpAuth)
			lines.push('AUTH PLAIN LOGIN');
		lines.forEach((l, i) => this.reply((i === lines.length - 1 ? '250 ' : '250-') + l));
	}

	startTls(arg) {
		if (arg !== '') {
			this.reply('501 5.5.4 Syntax: STARTTLS');
			return;
		}
		if (this.tls) {
			this.reply('503 5.5.1 Error: TLS already active');
			return;
		}
		if (!this.helo) {
			this.reply('503 5.5.1 Error: send HELO/EHLO first');
			return;
		}
		this.reply('220 2.0.0 Ready to start TLS');
		this.mode = MODE_UPGRADING;
		if (this.buf.length > 0) {
			// RFC 3207 section 5: what came with STARTTLS came in clear.
			this.logEntry(this.buf.toString('utf8').trimEnd()).injected = true;
			log(`smtp#${this.id}`, 'discarded', this.buf.length, 'bytes pipelined after STARTTLS');
			this.buf = Buffer.alloc(0);
		}
		const plain = this.socket;
		plain.removeAllListeners('data');
		plain.removeAllListeners('timeout');
		plain.setTimeout(0);
		const secure = new tls.TLSSocket(plain, { isServer: true, secureContext: sink.secureContext });
		secure.once('secure', () => {
			this.tls = true;
			this.helo = null;
			this.authUser = null;
			this.tx = null;
			this.mode = MODE_COMMAND;
		});
		this.attach(secure);
	}

	authStart(arg) {
		const [mechRaw, initial] = arg.split(' ');
		const mech = (mechRaw || '').toUpperCase();
		if (!this.helo)
			return this.reply('503 5.5.1 Error: send HELO/EHLO first');
		if (!sink.smtpAuth)
			return this.reply('503 5.5.1 Error: authentication not enabled');
		if (!this.tls)
			return this.reply('538 5.7.11 Encryption required for requested authentication mechanism');
		if (this.authUser !== null)
			return this.reply('503 5.5.1 Error: already authenticated');
		if (this.tx)
			return this.reply('503 5.5.1 Error: MAIL transaction in progress');
		if (mech === 'PLAIN') {
			if (initial !== undefined)
				return this.authPlain(initial);
			this.auth = { mech, step: 'plain' };
			this.mode = MODE_AUTH;
			return this.reply('334 ');
		}
		if (mech === 'LOGIN') {
			this.auth = { mech, step: 'user' };
			this.mode = MODE_AUTH;
			if (initial !== undefined)
				return this.authStep(initial);
			return this.reply('334 ' + Buffer.from('Username:').toString('base64'));
		}
		return this.reply('504 5.5.4 Error: unrecognized authentication type');
	}

	// One continuation line of AUTH (or LOGIN's initial response).
	authStep(line) {
		const auth = this.auth;
		if (line === '*') {
			this.endAuth();
			return this.reply('501 5.7.0 Authentication aborted');
		}
		const bytes = decodeB64(line);
		if (bytes === null) {
			this.endAuth();
			return this.reply('501 5.5.2 Error: cannot decode response');
		}
		if (auth.step === 'plain')
			return this.authPlain(line);
		if (auth.step === 'user') {
			auth.user = bytes.toString('utf8');
			auth.step = 'pass';
			return this.reply('334 ' + Buffer.from('Password:').toString('base64'));
		}
		this.endAuth();
		return this.authCheck(auth.user, bytes.toString('utf8'));
	}

	authPlain(b64) {
		this.endAuth();
		const bytes = decodeB64(b64);
		if (bytes === null)
			return this.reply('501 5.5.2 Error: cannot decode response');
		const fields = bytes.toString('utf8').split('\0');
		if (fields.length !== 3)
			return this.reply('535 5.7.8 Error: authentication failed: malformed PLAIN response');
		if (fields[0] !== '' && fields[0] !== fields[1])
			return this.reply('535 5.7.8 Error: authentication failed: authorization identity differs');
		return this.authCheck(fields[1], fields[2]);
	}

	endAuth() {
		this.auth = null;
		this.mode = MODE_COMMAND;
	}

	authCheck(user, pass) {
		const want = sink.smtpAuth;
		if (!want)
			return this.reply('535 5.7.8 Error: authentication failed: authentication not enabled');
		const ok = sameSecret(user, want.user) & sameSecret(pass, want.pass);
		if (!ok) {
			log(`smtp#${this.id}`, 'AUTH failed for', JSON.stringify(user));
			return this.reply('535 5.7.8 Error: authentication failed: authentication credentials invalid');
		}
		this.authUser = user;
		this.entry.auth_user = user;
		return this.reply('235 2.7.0 Authentication successful');
	}

	mail(arg) {
		if (!this.helo)
			return this.reply('503 5.5.1 Error: send HELO/EHLO first');
		if (!this.tls)
			return this.reply('530 5.7.0 Must issue a STARTTLS command first');
		if (sink.smtpAuth && this.authUser === null)
			return this.reply('530 5.7.0 Authentication required');
		if (this.tx)
			return this.reply('503 5.5.1 Error: nested MAIL command');
		const m = /^FROM: ?<([^<>]*)>((?: +\S+)*) *$/i.exec(arg);
		if (!m)
			return this.reply('501 5.5.4 Syntax: MAIL FROM:<address>');
		if (m[1] !== '' && !ADDRESS.test(m[1]))
			return this.reply('501 5.1.7 Bad sender address syntax');
		const bad = this.mailParams(m[2].trim());
		if (bad)
			return this.reply(bad);
		const action = takeAction(sink.scripts.smtp, (x) => x.at !== 'CONNECT');
		this.tx = { from: m[1], to: [], action };
		if (action && action.at === 'MAIL') {
			this.tx = null;
			return this.failAction(action);
		}
		return this.reply('250 2.1.0 Ok');
	}

	// The reply refusing a MAIL parameter, or null when all are fine.
	mailParams(text) {
		for (const p of text === '' ? [] : text.split(/ +/)) {
			const [name, value] = p.split('=', 2);
			const n = name.toUpperCase();
			if (n === 'SIZE' && /^\d+$/.test(value || '')) {
				if (Number(value) > MAX_MESSAGE)
					return '552 5.3.4 Message size exceeds fixed limit';
			} else if (n === 'BODY' && /^(7BIT|8BITMIME)$/i.test(value || '')) {
				continue;
			} else if (n !== 'AUTH' || value === undefined) {
				return `555 5.5.4 Unsupported option: ${p}`;
			}
		}
		return null;
	}

	rcpt(arg) {
		if (!this.tx)
			return this.reply('503 5.5.1 Error: need MAIL command');
		const m = /^TO: ?<([^<>]*)>( +\S+)* *$/i.exec(arg);
		if (!m)
			return this.reply('501 5.5.4 Syntax: RCPT TO:<address>');
		if (m[2])
			return this.reply(`555 5.5.4 Unsupported option: ${m[2].trim()}`);
		if (!ADDRESS.test(m[1]))
			return this.reply('501 5.1.3 Bad recipient address syntax');
		const a = this.tx.action;
		if (a && a.at === 'RCPT')
			return this.failAction(a);
		if (this.tx.to.length >= MAX_RCPT)
			return this.reply('452 4.5.3 Error: too many recipients');
		this.tx.to.push(m[1]);
		return this.reply('250 2.1.5 Ok');
	}

	dataStart(arg) {
		if (arg !== '')
			return this.reply('501 5.5.4 Syntax: DATA');
		if (!this.tx)
			return this.reply('503 5.5.1 Error: need MAIL command');
		if (this.tx.to.length === 0)
			return this.reply('503 5.5.1 Error: need RCPT command');
		const a = this.tx.action;
		if (a && a.at === 'DATA')
			return this.failAction(a);
		this.data = { chunks: [], size: 0, tooBig: false, lineStart: true, bareLf: false };
		this.mode = MODE_DATA;
		return this.reply('354 End data with <CR><LF>.<CR><LF>');
	}

	appendData(buf) {
		const d = this.data;
		d.size += buf.length;
		if (d.size > MAX_MESSAGE) {
			d.tooBig = true;
			d.chunks = [];
		}
		if (!d.tooBig)
			d.chunks.push(buf);
	}

	// Consumes one data line; false when more input is needed. Only CRLF ends
	// a line, so ".\r\n" after a bare LF does not end the message.
	pumpData() {
		const d = this.data;
		const i = this.buf.indexOf(CRLF);
		if (i < 0) {
			if (this.buf.length > MAX_DATA_LINE) {
				const keep = this.buf[this.buf.length - 1] === 13 ? 1 : 0;
				let part = this.buf.subarray(0, this.buf.length - keep);
				if (d.lineStart && part[0] === 46)
					part = part.subarray(1);
				d.bareLf = d.bareLf || part.includes(10);
				this.appendData(Buffer.from(part));
				d.lineStart = false;
				this.buf = Buffer.from(this.buf.subarray(this.buf.length - keep));
			}
			return false;
		}
		let line = this.buf.subarray(0, i);
		this.buf = this.buf.subarray(i + 2);
		if (d.lineStart && line.length === 1 && line[0] === 46) {
			this.dataEnd();
			return true;
		}
		if (d.lineStart && line[0] === 46)
			line = line.subarray(1);
		d.bareLf = d.bareLf || line.includes(10);
		this.appendData(Buffer.from(line));
		this.appendData(CRLF);
		d.lineStart = true;
		return true;
	}

	dataEnd() {
		const d = this.data;
		const tx = this.tx;
		this.data = null;
		this.tx = null;
		this.mode = MODE_COMMAND;
		this.entry = this.logEntry('(end of data)');
		this.entry.size = d.size;
		if (d.tooBig)
			return this.reply('552 5.3.4 Error: message file too big');
		const a = tx.action && tx.action.at === 'DATA_END' ? tx.action : null;
		if (a && !a.action)
			return this.failAction(a);
		const rec = this.record(tx, d);
		if (a) {
			rec.unanswered = true;
			return this.failAction(a);
		}
		return this.reply('250 2.0.0 Ok: queued as ' + rec.queue_id);
	}

	record(tx, d) {
		const text = Buffer.concat(d.chunks).toString('utf8');
		const rec = Object.assign({
			seq: ++sink.seq,
			queue_id: crypto.randomBytes(6).toString('hex').toUpperCase(),
			from: tx.from, to: tx.to, data: text, size: d.size,
			tls: this.tls, auth_user: this.authUser, port_kind: this.portKind,
			ehlo: this.helo, received_ms: Date.now(), bare_lf: d.bareLf,
		}, parseEntity(text));
		pushCapped(sink.mails, rec);
		log(`smtp#${this.id}`, 'message', rec.queue_id, 'from', JSON.stringify(tx.from), 'to',
		    JSON.stringify(tx.to), d.size, 'bytes');
		return rec;
	}
}

// Strict base64 (RFC 4954 "=" is an empty initial response); null if invalid.
function decodeB64(text) {
	if (text === '=')
		return Buffer.alloc(0);
	if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text))
		return null;
	return Buffer.from(text, 'base64');
}

// --- hooks ------------------------------------------------------------------

function parseJson(text) {
	try {
		return JSON.parse(text);
	} catch (e) {
		return null;
	}
}

function isObject(v) {
	return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function nonEmptyString(v) {
	return typeof v === 'string' && v.trim() !== '';
}

function isJsonType(headers) {
	return /^application\/json\s*(;|$)/i.test(headers['content-type'] || '');
}

// Each check answers {valid, status, type, body, reason?}.
function checkSlack(rec) {
	const bad = (reason) => ({ valid: false, status: 400, type: 'text/plain', body: reason, reason });
	if (rec.method !== 'POST')
		return { valid: false, status: 405, type: 'text/plain', body: 'invalid_method', reason: 'invalid_method' };
	if (!isJsonType(rec.headers) || !isObject(rec.json))
		return bad('invalid_payload');
	const j = rec.json;
	if (j.text !== undefined && typeof j.text !== 'string')
		return bad('invalid_payload');
	if (j.blocks !== undefined && !Array.isArray(j.blocks))
		return bad('invalid_payload');
	if (!nonEmptyString(j.text) && !(Array.isArray(j.blocks) && j.blocks.length > 0))
		return bad('no_text');
	return { valid: true, status: 200, type: 'text/plain', body: 'ok' };
}

function teamsProblem(j) {
	if (!isObject(j))
		return 'Bad payload received by generic incoming webhook.';
	if (j['@type'] === 'MessageCard') {
		if (nonEmptyString(j.text) || nonEmptyString(j.summary) ||
		    (Array.isArray(j.sections) && j.sections.length > 0))
			return null;
		return 'Summary or Text is required.';
	}
	if (j.type !== 'message' || !Array.isArray(j.attachments) || j.attachments.length === 0)
		return 'Bad payload received by generic incoming webhook.';
	for (const a of j.attachments) {
		if (!isObject(a) || a.contentType !== 'application/vnd.microsoft.card.adaptive')
			return 'attachment contentType is not application/vnd.microsoft.card.adaptive';
		if (!isObject(a.content) || a.content.type !== 'AdaptiveCard' || !Array.isArray(a.content.body))
			return 'attachment content is not an AdaptiveCard with a body';
	}
	return null;
}

function checkTeams(rec) {
	if (rec.method !== 'POST')
		return { valid: false, status: 405, type: 'text/plain', body: 'method not allowed', reason: 'method' };
	const problem = isJsonType(rec.headers) ? teamsProblem(rec.json) : 'content type is not application/json';
	if (problem)
		return { valid: false, status: 400, type: 'text/plain', body: problem, reason: problem };
	return { valid: true, status: 200, type: 'text/plain', body: '1' };
}

// Standard Webhooks verification; the reason when it fails, else null.
function webhookProblem(headers, raw) {
	if (!sink.webhookKey)
		return 'the sink has no webhook secret';
	const id = headers['webhook-id'];
	const ts = headers['webhook-timestamp'];
	const sigs = headers['webhook-signature'];
	const missing = ['webhook-id', 'webhook-timestamp', 'webhook-signature'].filter((h) => !headers[h]);
	if (missing.length > 0)
		return 'missing header ' + missing.join(', ');
	if (!/^\d{1,15}$/.test(ts))
		return 'webhook-timestamp is not integer unix seconds';
	const skew = Math.floor(Date.now() / 1000) - Number(ts);
	if (sink.webhookTolerance !== null && skew > sink.webhookTolerance)
		return 'webhook-timestamp too old';
	if (sink.webhookTolerance !== null && -skew > sink.webhookTolerance)
		return 'webhook-timestamp too new';
	const want = crypto.createHmac('sha256', sink.webhookKey)
		.update(Buffer.concat([Buffer.from(`${id}.${ts}.`), raw])).digest();
	let v1 = 0;
	for (const token of sigs.split(' ').filter((s) => s !== '')) {
		const comma = token.indexOf(',');
		if (comma < 0 || token.slice(0, comma) !== 'v1')
			continue;
		v1++;
		const got = decodeB64(token.slice(comma + 1));
		if (got !== null && got.length === want.length && crypto.timingSafeEqual(got, want))
			return null;
	}
	return v1 === 0 ? 'no v1 signature' : 'no matching v1 signature';
}

function checkWebhook(rec, raw) {
	rec.webhook_id = rec.headers['webhook-id'] || null;
	rec.webhook_timestamp = rec.headers['webhook-timestamp'] || null;
	if (rec.method !== 'POST') {
		rec.verified = false;
		return { valid: false, status: 405, type: 'application/json', body: '{"error":"method"}', reason: 'method' };
	}
	const problem = webhookProblem(rec.headers, raw);
	rec.verified = problem === null;
	if (problem)
		return { valid: false, status: 401, type: 'application/json',
			body: JSON.stringify({ error: problem }), reason: problem };
	return { valid: true, status: 200, type: 'application/json', body: '{"verified":true}' };
}

function send(res, rec, status, type, body, headers = {}) {
	if (res.headersSent || res.destroyed)
		return;
	if (rec)
		rec.status = status;
	const h = Object.assign({ 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) }, headers);
	res.writeHead(status, h);
	res.end(body);
}

function sendJson(res, status, payload) {
	send(res, null, status, 'application/json; charset=utf-8', JSON.stringify(payload));
}

// Waits for /_sink/release (true) or for the client to go away (false).
function holdRequest(req) {
	return new Promise((resolve) => {
		const release = () => {
			sink.hung.delete(release);
			resolve(true);
		};
		sink.hung.add(release);
		req.socket.once('close', () => {
			sink.hung.delete(release);
			resolve(false);
		});
	});
}

async function onHook(req, res, raw) {
	const m = /^\/(slack|teams|webhook)(?:[/?]|$)/.exec(req.url);
	const text = raw.toString('utf8');
	const rec = {
		seq: ++sink.seq, kind: m ? m[1] : 'other', method: req.method, path: req.url,
		headers: lowerHeaders(req.headers), body: text, json: parseJson(text),
		status: null, received_ms: Date.now(),
	};
	pushCapped(sink.posts, rec);
	let verdict;
	if (rec.kind === 'slack')
		verdict = checkSlack(rec);
	else if (rec.kind === 'teams')
		verdict = checkTeams(rec);
	else if (rec.kind === 'webhook')
		verdict = checkWebhook(rec, raw);
	else
		verdict = { valid: false, status: 404, type: 'text/plain', body: 'no such sink', reason: 'no such sink' };
	rec.valid = verdict.valid;
	if (verdict.reason)
		rec.reason = verdict.reason;
	log(rec.kind, req.method, req.url, verdict.valid ? 'valid' : 'invalid: ' + verdict.reason);
	const a = rec.kind === 'other' ? null : takeAction(sink.scripts[rec.kind], () => true);
	if (a) {
		rec.scripted = a;
		log(rec.kind, 'scripted', JSON.stringify(a));
	}
	if (a && a.delay_ms)
		await sleep(a.delay_ms);
	if (a && a.action === 'drop') {
		rec.unanswered = true;
		req.socket.destroy();
		return;
	}
	if (a && a.action === 'hang') {
		rec.hung = true;
		if (!await holdRequest(req)) {
			rec.unanswered = true;
			return;
		}
	}
	if (a && a.status) {
		const body = a.body !== undefined ? String(a.body) : `scripted ${a.status}`;
		send(res, rec, a.status, 'text/plain', body, a.headers || {});
		return;
	}
	send(res, rec, verdict.status, verdict.type, verdict.body);
}

// --- control API --------------------------------------------------------------

class ControlError extends Error {}

function checkScript(kind, actions) {
	if (!Array.isArray(actions))
		throw new ControlError('want {"kind":K,"actions":[...]}');
	return actions.map((a) => {
		if (!isObject(a))
			throw new ControlError('each action must be an object');
		const times = a.times === undefined ? 1 : a.times;
		if (!Number.isInteger(times) || times < 0)
			throw new ControlError('times must be an integer >= 0');
		if (kind === 'smtp')
			return checkSmtpAction(a, times);
		return checkHookAction(a, times);
	});
}

function checkSmtpAction(a, times) {
	const extra = Object.keys(a).filter((k) => !['at', 'reply', 'action', 'times'].includes(k));
	if (extra.length > 0)
		throw new ControlError('unknown smtp action field ' + extra.join(', '));
	if (!SMTP_STAGES.includes(a.at))
		throw new ControlError('smtp "at" must be one of ' + SMTP_STAGES.join(', '));
	if ((a.reply === undefined) === (a.action === undefined))
		throw new ControlError('smtp action needs exactly one of "reply", "action"');
	if (a.reply !== undefined && !(typeof a.reply === 'string' && /^[45]\d\d( [^\r\n]*)?$/.test(a.reply)))
		throw new ControlError('smtp "reply" must be one line "4NN text" or "5NN text"');
	if (a.action !== undefined && !['drop', 'hang'].includes(a.action))
		throw new ControlError('smtp "action" must be "drop" or "hang"');
	return Object.assign({}, a, { times });
}

function checkHookAction(a, times) {
	const extra = Object.keys(a).filter((k) => !['status', 'headers', 'body', 'action', 'delay_ms', 'times'].includes(k));
	if (extra.length > 0)
		throw new ControlError('unknown hook action field ' + extra.join(', '));
	if (a.status !== undefined && !(Number.isInteger(a.status) && a.status >= 100 && a.status <= 599))
		throw new ControlError('"status" must be an HTTP status');
	if (a.action !== undefined && !['drop', 'hang'].includes(a.action))
		throw new ControlError('"action" must be "drop" or "hang"');
	if (a.status !== undefined && a.action === 'drop')
		throw new ControlError('"drop" answers nothing, so no "status"');
	if (a.headers !== undefined && !(isObject(a.headers) && Object.values(a.headers).every((v) => typeof v === 'string')))
		throw new ControlError('"headers" must map names to strings');
	if (a.delay_ms !== undefined && !(Number.isInteger(a.delay_ms) && a.delay_ms >= 0))
		throw new ControlError('"delay_ms" must be an integer >= 0');
	if (a.status === undefined && a.action === undefined && a.delay_ms === undefined)
		throw new ControlError('a hook action needs "status", "action" or "delay_ms"');
	return Object.assign({}, a, { times });
}

function scriptKind(kind) {
	if (kind !== 'smtp' && !HOOK_KINDS.includes(kind))
		throw new ControlError('kind must be smtp, slack, teams or webhook');
	return kind;
}

function webhookKeyOf(secret) {
	if (typeof secret !== 'string')
		throw new ControlError('webhook_secret must be a string');
	const b64 = secret.startsWith('whsec_') ? secret.slice(6) : secret;
	const key = decodeB64(b64);
	if (key === null || key.length === 0)
		throw new ControlError('webhook_secret must be whsec_ followed by base64');
	return key;
}

function configure(c) {
	if (!isObject(c))
		throw new ControlError('want a JSON object');
	// Check everything before changing anything.
	let auth = sink.smtpAuth;
	let key = sink.webhookKey;
	let tolerance = sink.webhookTolerance;
	if (c.smtp_auth !== undefined) {
		if (c.smtp_auth !== null && !(isObject(c.smtp_auth) && typeof c.smtp_auth.user === 'string' &&
		    typeof c.smtp_auth.pass === 'string'))
			throw new ControlError('smtp_auth must be {"user","pass"} or null');
		auth = c.smtp_auth === null ? null : { user: c.smtp_auth.user, pass: c.smtp_auth.pass };
	}
	if (c.webhook_secret !== undefined)
		key = c.webhook_secret === null ? null : webhookKeyOf(c.webhook_secret);
	if (c.webhook_tolerance_s !== undefined) {
		if (c.webhook_tolerance_s !== null && !(Number.isInteger(c.webhook_tolerance_s) && c.webhook_tolerance_s >= 0))
			throw new ControlError('webhook_tolerance_s must be an integer >= 0 or null');
		tolerance = c.webhook_tolerance_s;
	}
	sink.smtpAuth = auth;
	sink.webhookKey = key;
	sink.webhookTolerance = tolerance;
}

function configView() {
	return {
		smtp_auth: sink.smtpAuth ? sink.smtpAuth.user : null,
		webhook_secret: sink.webhookKey !== null,
		webhook_tolerance_s: sink.webhookTolerance,
	};
}

function releaseAll() {
	const all = [...sink.hung];
	all.forEach((release) => release());
	return all.length;
}

function reset() {
	const n = releaseAll();
	for (const s of sink.hungSessions)
		s.socket.destroy();
	sink.hungSessions.clear();
	sink.mails = [];
	sink.posts = [];
	sink.smtpLog = [];
	for (const k of Object.keys(sink.scripts))
		sink.scripts[k] = [];
	return n;
}

function controlBody(raw) {
	const text = raw.toString('utf8');
	if (text === '')
		return {};
	const v = parseJson(text);
	if (v === null)
		throw new ControlError('body is not JSON');
	return v;
}

function onControl(req, res, raw) {
	const url = new URL(req.url, 'https://127.0.0.1');
	const route = req.method + ' ' + url.pathname;
	try {
		switch (route) {
		case 'GET /_sink/mails':
			return sendJson(res, 200, { mails: sink.mails });
		case 'GET /_sink/posts': {
			const kind = url.searchParams.get('kind');
			return sendJson(res, 200, { posts: kind ? sink.posts.filter((p) => p.kind === kind) : sink.posts });
		}
		case 'GET /_sink/smtp_log':
			return sendJson(res, 200, { log: sink.smtpLog });
		case 'POST /_sink/script': {
			const b = controlBody(raw);
			const kind = scriptKind(b.kind);
			sink.scripts[kind].push(...checkScript(kind, b.actions));
			return sendJson(res, 200, { kind, script: sink.scripts[kind] });
		}
		case 'GET /_sink/script': {
			const kind = scriptKind(url.searchParams.get('kind'));
			return sendJson(res, 200, { kind, script: sink.scripts[kind] });
		}
		case 'POST /_sink/release':
			return sendJson(res, 200, { released: releaseAll() });
		case 'POST /_sink/reset':
			return sendJson(res, 200, { released: reset() });
		case 'GET /_sink/config':
			return sendJson(res, 200, configView());
		case 'POST /_sink/config':
			configure(controlBody(raw));
			return sendJson(res, 200, configView());
		default:
			return sendJson(res, 404, { error: 'no control route ' + route });
		}
	} catch (e) {
		if (!(e instanceof ControlError))
			throw e;
		return sendJson(res, 400, { error: e.message });
	}
}

async function onRequest(req, res) {
	let raw;
	try {
		raw = await readBody(req, MAX_HTTP_BODY);
	} catch (e) {
		send(res, null, 413, 'text/plain', e.message);
		return;
	}
	if (req.url.startsWith('/_sink/'))
		onControl(req, res, raw);
	else
		await onHook(req, res, raw);
}

// --- start --------------------------------------------------------------------

function usage(msg) {
	process.stderr.write(`sinks.js: ${msg}\nusage: node sinks.js --certs DIR [--watch-stdin] ` +
	    '[--smtp-auth USER:PASS] [--webhook-secret whsec_...]\n');
	process.exit(2);
}

function parseArgs(argv) {
	const args = { certs: null, watchStdin: false, config: {} };
	for (let i = 0; i < argv.length; i++) {
		const value = () => (i + 1 < argv.length ? argv[++i] : usage(`${argv[i]} needs a value`));
		if (argv[i] === '--certs')
			args.certs = value();
		else if (argv[i] === '--watch-stdin')
			args.watchStdin = true;
		else if (argv[i] === '--webhook-secret')
			args.config.webhook_secret = value();
		else if (argv[i] === '--smtp-auth') {
			const v = value();
			const colon = v.indexOf(':');
			if (colon < 0)
				usage('--smtp-auth wants USER:PASS');
			args.config.smtp_auth = { user: v.slice(0, colon), pass: v.slice(colon + 1) };
		} else
			usage(`unknown argument ${argv[i]}`);
	}
	if (!args.certs)
		usage('--certs DIR is required');
	return args;
}

function listen(server) {
	return new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => resolve(server.address().port));
	});
}

async function main() {
	const args = parseArgs(process.argv.slice(2));
	try {
		configure(args.config);
	} catch (e) {
		usage(e.message);
	}
	const pair = {
		cert: fs.readFileSync(args.certs + '/server.crt'),
		key: fs.readFileSync(args.certs + '/server.key'),
	};
	sink.secureContext = tls.createSecureContext(pair);
	const smtp = net.createServer((s) => new SmtpSession(s, 'starttls'));
	const smtps = tls.createServer(pair, (s) => new SmtpSession(s, 'implicit'));
	smtps.on('tlsClientError', (e) => log('smtps: TLS handshake failed:', e.message));
	const hooks = https.createServer(pair, (req, res) => {
		onRequest(req, res).catch((e) => {
			log('hooks: handler crashed:', e.stack);
			send(res, null, 500, 'text/plain', 'sink crashed: ' + e.message);
		});
	});
	hooks.on('tlsClientError', (e) => log('hooks: TLS handshake failed:', e.message));
	hooks.keepAliveTimeout = 5000;
	const ports = { smtp: await listen(smtp), smtps: await listen(smtps), hooks: await listen(hooks) };
	announcePorts(ports, args.watchStdin, log);
}

main().catch((e) => {
	process.stderr.write(`sinks.js: ${e.stack}\n`);
	process.exit(1);
});
