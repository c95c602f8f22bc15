/*
 * rekey's status page.  It has no data of its own: it reads /api/v1/status
 * with the admin token the person types, which stays in this tab's
 * sessionStorage (never a cookie, never sent elsewhere).  Everything from
 * the API is put into the page as text (textContent, SVG text nodes), never
 * as markup: names and messages come from Graph, Nylas and the config.
 * The Content-Security-Policy forbids inline script and style, so this file
 * sets classes and attributes only.
 */
"use strict";

(function () {
  var REFRESH_MS = 5000;
  var TOKEN_KEY = "rekey.admin_token";
  var SVG = "http://www.w3.org/2000/svg";
  /* The rotation's path through the state machine (DESIGN.md), in order. */
  var STEPS = ["planned", "creating", "created", "testing", "tested", "publishing",
    "published", "watching", "retiring", "retired", "done"];
  var CAUSES = {
    secret_expired: "the client secret in use has expired",
    secret_invalid: "the client secret in use is refused",
    user_disabled: "users were disabled",
    user_deleted: "users were deleted",
    user_sessions_revoked: "users' sessions were revoked",
    user_password_changed: "users changed their passwords",
    suspected_app_wide: "many grants expired at once (app-wide, cause not proven)",
    unknown: "cause unknown"
  };

  var timer = null;
  var lastRead = null;
  var busy = false;

  function $(id) { return document.getElementById(id); }

  /* An element with a class and text (both optional), children appended. */
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    for (var i = 3; i < arguments.length; i++) if (arguments[i]) e.appendChild(arguments[i]);
    return e;
  }

  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function token() { return sessionStorage.getItem(TOKEN_KEY); }

  function show(id, text) {
    var e = $(id);
    e.textContent = text || "";
    e.hidden = !text;
  }

  /*
   * The error line says either that the status could not be read (a
   * refresh that works clears it) or how an action ended (it stays until
   * the next action, sign-in or sign-out): a refresh every 5 s must not wipe
   * "Not approved" or "Refused" before anyone has read it.
   */
  var readFailed = false;
  function showError(text, fromRead) {
    show("error", text);
    readFailed = !!text && !!fromRead;
  }

  /* "2026-12-05 23:10 UTC (5 min ago)" from the API's ISO time, or "never". */
  function when(iso, none) {
    if (!iso) return none || "never";
    var t = Date.parse(iso);
    if (isNaN(t)) return String(iso);
    return iso.replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, " UTC") + " (" + ago(t) + ")";
  }

  function ago(t) {
    var s = Math.round((Date.now() - t) / 1000), a = Math.abs(s), n, u;
    if (a < 90) { n = a; u = "s"; }
    else if (a < 5400) { n = Math.round(a / 60); u = " min"; }
    else if (a < 172800) { n = Math.round(a / 3600); u = " h"; }
    else { n = Math.round(a / 86400); u = " days"; }
    return s >= 0 ? n + u + " ago" : "in " + n + u;
  }

  function days(secs) {
    var d = secs / 86400;
    return d >= 1 && d === Math.floor(d) ? d + "d" : Math.round(secs / 3600) + "h";
  }

  function shortId(id) { return id && id.length > 13 ? id.slice(0, 8) + "\u2026" : (id || "-"); }

  /* The level in words (as `rekey status` prints it) and its class. */
  function level(l) {
    if (l === "ok") return ["ok", "lvl-ok"];
    if (l === "warning") return ["warn", "lvl-warn"];
    if (l === "critical") return ["FAIL", "lvl-fail"];
    return ["unknown", "lvl-unknown"];
  }

  function healthWords(h) {
    return { ok: "OK", warning: "WARNING", critical: "CRITICAL" }[h] || "UNKNOWN";
  }

  function badge(l, words) {
    var lv = level(l);
    return el("span", "badge " + lv[1], words || lv[0]);
  }

  function table(heads, rows, cls) {
    var t = el("table", cls), tr = el("tr"), i;
    for (i = 0; i < heads.length; i++) tr.appendChild(el("th", null, heads[i]));
    t.appendChild(el("thead", null, null, tr));
    var body = el("tbody");
    rows.forEach(function (cells) {
      var r = el("tr");
      cells.forEach(function (c, k) {
        var td = c instanceof Node ? el("td", null, null, c) :
          el("td", typeof c === "number" ? "num" : null, c === null ? "-" : c);
        /* The heading again, for the narrow layout, where a row is a block. */
        td.setAttribute("data-label", heads[k]);
        r.appendChild(td);
      });
      body.appendChild(r);
    });
    t.appendChild(body);
    return el("div", "scroll", null, t);
  }

  function kv(pairs) {
    var dl = el("dl", "kv");
    pairs.forEach(function (p) {
      dl.appendChild(el("dt", null, p[0]));
      dl.appendChild(p[1] instanceof Node ? el("dd", null, null, p[1]) : el("dd", null, p[1]));
    });
    return dl;
  }

  /* ---- the API ---- */

  function api(method, path, tok, body) {
    var opts = { method: method, cache: "no-store", credentials: "omit",
      headers: { Authorization: "Bearer " + tok } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (r) {
      return r.text().then(function (text) {
        var doc = null;
        try { doc = JSON.parse(text); } catch (e) { doc = null; }
        return { status: r.status, doc: doc, retry: r.headers.get("Retry-After") };
      });
    });
  }

  /* The words for an answer that is not what was asked for. */
  function failure(res) {
    var why = res.doc && res.doc.error ? res.doc.error : "HTTP " + res.status;
    if (res.status === 401) return "the token was refused (401 " + why + ")";
    if (res.status === 429) return "too many failed attempts from this address: wait " +
      (res.retry || "a minute") + " s (429)";
    return why + " (" + res.status + ")";
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    clearTimeout(timer);
    $("apps").textContent = "";
    $("overall").hidden = true;
    $("read-at").textContent = "";
    $("signout").hidden = true;
    $("refresh").hidden = true;
    $("login").hidden = false;
    showError(message, false);
    show("notice", "");
    $("token").value = "";
    $("token").focus();
  }

  function load() {
    var tok = token();
    clearTimeout(timer);
    if (!tok) { signOut(""); return; }
    if (busy) return;
    busy = true;
    api("GET", "/api/v1/status", tok).then(function (res) {
      busy = false;
      if (res.status === 401 || res.status === 429) {
        signOut("Cannot read the status: " + failure(res) + ".");
        return;
      }
      if (res.status !== 200 || !res.doc) {
        stale("rekey answered " + failure(res));
        return;
      }
      lastRead = new Date();
      if (readFailed) showError("", false);
      render(res.doc);
      timer = setTimeout(load, REFRESH_MS);
    }, function (err) {
      busy = false;
      stale("rekey did not answer (" + err.message + ")");
    });
  }

  /* Keeps what was last read, said to be old, and tries again. */
  function stale(why) {
    showError(why + (lastRead ? "; what is shown was read at " + lastRead.toLocaleTimeString() +
      " and may be out of date." : "."), true);
    timer = setTimeout(load, REFRESH_MS);
  }

  /* ---- actions: each behind a confirmation ---- */

  function act(question, method, path, body, done) {
    if (!window.confirm(question)) return;
    api(method, path, token(), body).then(function (res) {
      if (res.status === 401 && /\/approve$/.test(path)) {
        /* With approve_token_file, approving takes that token, asked for once and not kept. */
        var other = window.prompt("Approving takes the approval token (approve_token_file):");
        if (!other) { showError("Not approved: " + failure(res) + ".", false); return; }
        api(method, path, other, body).then(function (r2) { finish(r2, done); });
        return;
      }
      finish(res, done);
    }, function (err) {
      showError("The request did not reach rekey (" + err.message + ").", false);
    });
  }

  function finish(res, done) {
    if (res.status >= 200 && res.status < 300) {
      showError("", false);
      show("notice", done(res.doc || {}));
    } else {
      showError("Refused: " + failure(res) + ".", false);
    }
    load();
  }

  function button(text, cls, onclick) {
    var b = el("button", cls, text);
    b.type = "button";
    b.addEventListener("click", onclick);
    return b;
  }

  /* ---- rendering ---- */

  function render(doc) {
    var apps = $("apps"), list = doc.apps || [];
    var o = $("overall");
    o.textContent = "";
    o.appendChild(document.createTextNode("Overall: "));
    o.appendChild(badge(doc.health, healthWords(doc.health)));
    o.hidden = false;
    $("read-at").textContent = "read at " + lastRead.toLocaleTimeString() +
      " (rekey's time " + when(doc.generated_at) + "), refreshed every " + REFRESH_MS / 1000 + " s";
    $("login").hidden = true;
    $("signout").hidden = false;
    $("refresh").hidden = false;
    apps.textContent = "";
    if (list.length === 0) apps.appendChild(el("p", null, "No apps are configured."));
    list.forEach(function (a) { apps.appendChild(renderApp(a)); });
  }

  function renderApp(a) {
    var s = el("section", "app");
    s.setAttribute("data-app", a.name);
    s.appendChild(el("h2", null, null, el("span", "app-name", a.name), badge(a.health, healthWords(a.health)),
      el("span", "muted", "rotation mode " + a.rotation_mode)));
    s.appendChild(el("div", "actions", null, button("Rotate " + a.name + " now\u2026", "rotate",
      function () {
        act("Rotate the client secret of " + a.name + " now?\n\nrekey makes a new secret in " +
          "Microsoft Entra, tests it, puts it into the Nylas connector and retires the old one " +
          "(rotation mode " + a.rotation_mode + ").", "POST",
          "/api/v1/apps/" + encodeURIComponent(a.name) + "/rotate", undefined, function (d) {
            return (d.existing ? "A rotation was already under way: " : "Rotation planned: ") +
              d.rotation_id + " (" + d.state + (d.waiting_for_approval ? ", waiting for approval" : "") + ").";
          });
      })));
    s.appendChild(renderConditions(a));
    s.appendChild(renderSecrets(a));
    s.appendChild(renderIncidents(a));
    s.appendChild(renderRotations(a));
    s.appendChild(renderOutbox(a));
    return s;
  }

  function renderConditions(a) {
    var box = el("div", "conditions"), conds = a.conditions || [];
    box.appendChild(el("h3", null, "Conditions"));
    box.appendChild(table(["Condition", "State", "Reason", "Message", "Since"], conds.map(function (c) {
      return [c.type, badge(c.level), c.reason || "-", c.message || "-", when(c.since, "-")];
    }), "conditions-table"));
    return box;
  }

  /* ---- the secrets' timeline ---- */

  function renderSecrets(a) {
    var box = el("div", "secrets"), secrets = a.secrets || [];
    box.appendChild(el("h3", null, "Client secrets"));
    if (a.in_use_why) box.appendChild(el("p", "muted", "Which secret is in use: " + a.in_use_why));
    if (secrets.length === 0) {
      box.appendChild(el("p", null, "No secrets read from Graph yet."));
      return box;
    }
    box.appendChild(el("div", "scroll", null, timeline(a, secrets)));
    box.appendChild(table(["Secret (hint)", "Name", "Start", "End", "Days left", "In use"],
      secrets.map(function (x) {
        return [(x.hint || "?") + " " + shortId(x.key_id), x.display_name || "-", x.start || "-",
          x.end || "-", typeof x.days_left === "number" ? x.days_left : null,
          x.in_use ? "IN USE" : "no"];
      }), "secrets-table"));
    if (a.secrets_read_at) box.appendChild(el("p", "muted", "Read from Graph " + when(a.secrets_read_at) + "."));
    return box;
  }

  function timeline(a, secrets) {
    var W = 800, LABEL = 270, RIGHT = 12, ROW = 28, now = Date.now();
    var inUse = secrets.filter(function (x) { return x.in_use && x.end; })[0];
    var marks = [];
    if (inUse) {
      var end = Date.parse(inUse.end);
      if (a.rotate_before_s) marks.push({ t: end - a.rotate_before_s * 1000, cls: "mark rotate",
        label: "rotate before (" + days(a.rotate_before_s) + ")" });
      (a.warn_before_s || []).forEach(function (w) {
        marks.push({ t: end - w * 1000, cls: "mark", label: "warn " + days(w) });
      });
    }
    var times = [now];
    secrets.forEach(function (x) {
      if (x.start) times.push(Date.parse(x.start));
      if (x.end) times.push(Date.parse(x.end));
    });
    marks.forEach(function (m) { times.push(m.t); });
    times = times.filter(function (t) { return !isNaN(t); });
    var t0 = Math.min.apply(null, times), t1 = Math.max.apply(null, times);
    var pad = Math.max((t1 - t0) * 0.03, 86400000);
    t0 -= pad; t1 += pad;
    var top = 18 + 14 * (marks.length + 1), H = top + ROW * secrets.length + 26;
    var x = function (t) { return LABEL + (t - t0) / (t1 - t0) * (W - LABEL - RIGHT); };
    var g = svg("svg", { viewBox: "0 0 " + W + " " + H, class: "timeline", role: "img",
      "aria-label": "Timeline of " + a.name + "'s client secrets" });
    g.appendChild(svg("title", {}, "Client secrets of " + a.name + ": each bar runs from the secret's start to its end"));
    secrets.forEach(function (s, i) {
      var y = top + i * ROW, st = Date.parse(s.start), en = Date.parse(s.end);
      var name = s.display_name || shortId(s.key_id);
      var label = (s.hint || "?") + " " + (name.length > 14 ? name.slice(0, 13) + "\u2026" : name) +
        (s.in_use ? " \u2014 IN USE" : "") + (en < now ? ", ENDED" : "");
      var grp = svg("g", { class: "secret" + (s.in_use ? " in-use" : "") });
      grp.appendChild(svg("text", { x: 4, y: y + 17, class: "secret-label" }, label));
      if (!isNaN(st) && !isNaN(en)) {
        grp.appendChild(svg("rect", { x: x(st), y: y + 4, width: Math.max(2, x(en) - x(st)), height: ROW - 10,
          class: "bar" + (s.in_use ? " in-use" : "") + (en < now ? " ended" : "") },
          undefined));
        grp.lastChild.appendChild(svg("title", {}, name + ": " + s.start + " \u2192 " + s.end));
      }
      g.appendChild(grp);
    });
    var bottom = top + ROW * secrets.length;
    marks.forEach(function (m, i) {
      var mx = x(m.t), ly = 14 + 14 * (i + 1);
      g.appendChild(svg("line", { x1: mx, x2: mx, y1: ly + 2, y2: bottom, class: m.cls }));
      g.appendChild(svg("text", { x: mx, y: ly, "text-anchor": mx > W - 140 ? "end" : "start", class: "mark-label" },
        m.label + " " + new Date(m.t).toISOString().slice(0, 10)));
    });
    var nx = x(now);
    g.appendChild(svg("line", { x1: nx, x2: nx, y1: 16, y2: bottom, class: "today" }));
    g.appendChild(svg("text", { x: nx, y: 12, "text-anchor": nx > W - 140 ? "end" : "start", class: "today-label" },
      "today " + new Date(now).toISOString().slice(0, 10)));
    g.appendChild(svg("line", { x1: LABEL, x2: W - RIGHT, y1: bottom + 2, y2: bottom + 2, class: "axis" }));
    for (var k = 0; k <= 4; k++) {
      var tt = t0 + (t1 - t0) * k / 4;
      g.appendChild(svg("text", { x: x(tt), y: bottom + 18, class: "tick",
        "text-anchor": k === 0 ? "start" : k === 4 ? "end" : "middle" }, new Date(tt).toISOString().slice(0, 10)));
    }
    return g;
  }

  /* ---- incidents ---- */

  function renderIncidents(a) {
    var box = el("div", "incidents"), incs = a.incidents || [];
    var open = incs.filter(function (i) { return i.state === "open"; });
    var closed = incs.filter(function (i) { return i.state !== "open"; });
    box.appendChild(el("h3", null, "Incidents"));
    if (open.length === 0) box.appendChild(el("p", null, "No open incident."));
    open.forEach(function (i) { box.appendChild(renderIncident(i)); });
    if (closed.length > 0) {
      box.appendChild(el("h3", null, "Resolved incidents"));
      box.appendChild(table(["Incident", "Cause", "Opened", "Resolved", "By", "Recovered"], closed.map(function (i) {
        return [shortId(i.id), i.cause, when(i.opened_at), when(i.resolved_at), i.resolved_by || "-",
          i.recovered + " of " + i.affected];
      }), "closed-incidents"));
    }
    return box;
  }

  function renderIncident(i) {
    var d = el("div", "incident open");
    d.setAttribute("data-incident", i.id);
    d.appendChild(el("p", null, null, el("strong", null, "OPEN incident " + shortId(i.id) + ": "),
      el("span", "cause", i.cause + " \u2014 " + (CAUSES[i.cause] || i.cause))));
    d.appendChild(kv([["Opened", when(i.opened_at)], ["Updated", when(i.updated_at)],
      ["Rotation", i.rotation_id ? shortId(i.rotation_id) : "none yet"]]));
    var ev = el("ul", "evidence");
    (i.evidence || []).forEach(function (e) { ev.appendChild(el("li", null, e)); });
    if ((i.evidence || []).length === 0) ev.appendChild(el("li", "muted", "no evidence recorded"));
    d.appendChild(el("p", null, "Evidence:"));
    d.appendChild(ev);
    var pct = i.affected > 0 ? Math.floor(100 * i.recovered / i.affected) : 0;
    var bar = el("progress");
    bar.max = Math.max(1, i.affected);
    bar.value = i.recovered;
    bar.setAttribute("aria-label", "users back");
    d.appendChild(el("div", "progress", null,
      el("p", null, null, el("span", "progress-text", i.recovered + " of " + i.affected +
        " users re-authenticated (" + pct + "%)"), el("span", "muted", ", " + i.remaining +
        " remaining, read at " + lastRead.toLocaleTimeString())), bar));
    if (i.progress && i.progress.length > 1) d.appendChild(history(i));
    d.appendChild(el("div", "actions", null, button("Resolve incident\u2026", "resolve danger", function () {
      act("Resolve incident " + i.id + " (" + i.cause + ") by hand?\n\n" + i.remaining +
        " users have not signed in again. The owners are told it is resolved.", "POST",
        "/api/v1/incidents/" + encodeURIComponent(i.id) + "/resolve", undefined, function (r) {
          return "Incident " + r.incident_id + " resolved by the operator.";
        });
    })));
    return d;
  }

  /* Affected and recovered over time, from the incident's "progress" points. */
  function history(i) {
    var W = 800, H = 150, L = 44, B = 22, T = 8, pts = i.progress;
    var t0 = Date.parse(pts[0].at), t1 = Date.parse(pts[pts.length - 1].at);
    var max = Math.max(1, i.affected);
    pts.forEach(function (p) { max = Math.max(max, p.affected); });
    var x = function (t) { return L + (t1 > t0 ? (t - t0) / (t1 - t0) : 1) * (W - L - 8); };
    var y = function (n) { return T + (1 - n / max) * (H - T - B); };
    var line = function (key) {
      return pts.map(function (p) { return x(Date.parse(p.at)).toFixed(1) + "," + y(p[key]).toFixed(1); }).join(" ");
    };
    var g = svg("svg", { viewBox: "0 0 " + W + " " + H, class: "history", role: "img",
      "aria-label": "Users re-authenticated over time" });
    g.appendChild(svg("title", {}, "Affected (dashed) and re-authenticated (solid) users over time"));
    g.appendChild(svg("polyline", { points: line("affected"), class: "affected" }));
    g.appendChild(svg("polyline", { points: line("recovered"), class: "recovered" }));
    g.appendChild(svg("text", { x: 2, y: T + 10 }, String(max)));
    g.appendChild(svg("text", { x: 2, y: H - B }, "0"));
    g.appendChild(svg("text", { x: L, y: H - 4 }, new Date(t0).toLocaleTimeString()));
    g.appendChild(svg("text", { x: W - 8, y: H - 4, "text-anchor": "end" }, new Date(t1).toLocaleTimeString()));
    return el("figure", "history-box", null, g,
      el("figcaption", "muted", "Over time: affected users (dashed) and users back (solid), " +
        pts.length + " points since the incident opened."));
  }

  /* ---- rotations ---- */

  function steps(r) {
    var ol = el("ol", "steps"), at = STEPS.indexOf(r.state), path = STEPS;
    if (r.state === "rolling_back") { path = STEPS.slice(0, STEPS.indexOf("watching") + 1).concat(["rolling_back"]); at = path.length - 1; }
    if (r.state === "failed") {
      /* Where it failed is not stored: what it reached is (published_at). */
      path = (r.published_at ? STEPS.slice(0, STEPS.indexOf("published") + 1) : ["planned"]).concat(["failed"]);
      at = path.length - 1;
    }
    path.forEach(function (s, k) {
      var cls = k < at || r.state === "done" ? "done" : k === at ? (s === "failed" ? "failed" : "current") : "todo";
      var li = el("li", cls, s);
      li.setAttribute("title", cls === "done" ? s + ": passed" : cls === "todo" ? s + ": to come" : s + ": now");
      if (cls === "current" || cls === "failed") li.setAttribute("aria-current", "step");
      ol.appendChild(li);
    });
    return ol;
  }

  function renderRotations(a) {
    var box = el("div", "rotations"), rots = a.rotations || [];
    box.appendChild(el("h3", null, "Rotations"));
    if (a.rotation_backoff) box.appendChild(el("p", null, "Backing off after " + a.rotation_backoff.failed_in_a_row +
      " failed rotation(s) in a row until " + when(a.rotation_backoff.until) + "."));
    if (rots.length === 0) { box.appendChild(el("p", null, "No rotation yet.")); return box; }
    rots.forEach(function (r) {
      var d = el("div", "rotation");
      d.setAttribute("data-rotation", r.id);
      var head = el("p", null, null, el("strong", null, "Rotation " + shortId(r.id) + ": "),
        el("span", "rotation-state", r.state.toUpperCase()), document.createTextNode(" (" + r.reason +
          (r.dry_run ? ", dry run" : "") + (r.waiting_for_approval ? ", WAITING FOR APPROVAL" : "") + ")"));
      d.appendChild(head);
      d.appendChild(steps(r));
      var pairs = [["Created", when(r.created_at)], ["Last step", when(r.updated_at)]];
      if (r.testing) pairs.push(["Testing", r.testing]);
      if (r.published_at) pairs.push(["Published", when(r.published_at)]);
      if (r.watch_until) pairs.push(["Watched until", when(r.watch_until)]);
      if (r.retire_at) pairs.push(["Old secret retired", when(r.retire_at)]);
      if (r.next_at) pairs.push(["Next step", when(r.next_at)]);
      if (r.new_hint) pairs.push(["New secret", r.new_hint + " " + shortId(r.new_key_id) + (r.new_end ? ", ends " + r.new_end : "")]);
      pairs.push(["Attempts", String(r.attempts)]);
      pairs.push(["Last error", r.last_error || "none"]);
      d.appendChild(kv(pairs));
      if (r.waiting_for_approval) {
        d.appendChild(el("div", "actions", null, button("Approve rotation\u2026", "approve", function () {
          act("Approve rotation " + r.id + " of " + a.name + "?\n\nrekey will make a new client secret " +
            "and put it into the Nylas connector.", "POST", "/api/v1/rotations/" +
            encodeURIComponent(r.id) + "/approve", undefined, function (x) {
              return "Rotation " + x.rotation_id + " approved.";
            });
        })));
      }
      box.appendChild(d);
    });
    return box;
  }

  function renderOutbox(a) {
    var box = el("div", "outbox"), n = a.notifications || {};
    box.appendChild(el("h3", null, "Notifications (outbox)"));
    box.appendChild(kv([["Channels", (n.channels || []).join(", ") || "none configured"],
      ["Sent", String(n.sent || 0)], ["Pending", String(n.pending || 0)], ["Failed", String(n.failed || 0)],
      ["Last error", n.last_error ? n.last_error + " (" + when(n.last_error_at) + ")" : "none"]]));
    return box;
  }

  /* ---- start ---- */

  document.addEventListener("DOMContentLoaded", function () {
    $("login").addEventListener("submit", function (e) {
      e.preventDefault();
      var tok = $("token").value.trim();
      if (!tok) return;
      sessionStorage.setItem(TOKEN_KEY, tok);
      $("token").value = "";
      showError("", false);
      load();
    });
    $("signout").addEventListener("click", function () { signOut(""); });
    $("refresh").addEventListener("click", load);
    if (token()) load();
    else $("token").focus();
  });
})();
