"""The status page GET /status (issue 20) in a real headless browser.

rekey runs against the fakes in the middle of a storm: the in-use secret has
ended (the identity fake answers AADSTS7000222), rotation_mode is approve, so
the rotation waits at planned; 30 grants expired and 10 of their users are
back.  A second app, staging, has no rotator identity: it fails.  Debian's
chromium, driven by chromedriver through selenium, opens the page over plain
HTTP on 127.0.0.1 (no tls_cert: the listener's mode behind a proxy) and we
check what a person sees there, by the elements' text:

- the sign-in form; the token goes to sessionStorage, never to a cookie;
- both apps by name, their health and each condition in words, a failing
  condition's reason;
- the secrets' timeline (SVG): a bar per secret, the in-use one marked in
  words, today's line, the rotate-before and warning marks;
- the open incident's cause, evidence and re-authentication progress, which
  moves on the next refresh after more users come back, and its history;
- the rotation waiting for approval and its steps; the Approve button asks
  for a confirmation; with approve_token_file the admin token is refused and
  the page asks for the approval token (a dismissed prompt approves nothing
  and says so; the token typed is not kept), then the rotation runs and the
  page shows its steps done; the Resolve button resolves the incident;
- the outbox's counts;
- a wrong token shows an error and no app data;
- every request the page made went to 127.0.0.1 (Chrome's performance log),
  and the console has no error (the wrong token's 401 apart);
- the security headers, HEAD, 405 and the compiled-in files, with urllib.

Screenshots (desktop and phone) go to $REKEY_BUILD/test-output/status_page/;
with REKEY_UPDATE_SCREENSHOT=1 the desktop one also replaces docs/status.png.
"""

import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import ROOT, Tap, envelope, wait_for, write_secret  # noqa: E402
from rotationlib import Rig, passwords, state  # noqa: E402
from stormlib import PAST_END, Storm  # noqa: E402

try:
    import selenium  # noqa: F401
except ImportError:
    # Debian's python3-selenium (DEB_TEST), when python3 is not Debian's own
    # interpreter (a pyenv or venv one): the module is pure Python.
    sys.path.append("/usr/lib/python3/dist-packages")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402

t = Tap()
AFFECTED = 30
BACK_FIRST = 10
BACK_LATER = 5
APPROVE_TOKEN = "approval-token-of-the-second-person"
OUT = os.path.join(ROOT, os.environ.get("REKEY_BUILD", "build"), "test-output", "status_page")


def http(rig, method, path, token=None, body=None):
    """(status, headers with lower-case names, body) through urllib, as a script would."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (rig.d.port, path), method=method,
                                 data=body)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def api_status(rig, token):
    st, _, body = http(rig, "GET", "/api/v1/status", token)
    return json.loads(body) if st == 200 else {}


def app_of(doc, name):
    return next((a for a in doc.get("apps", []) if a.get("name") == name), {})


def come_back(rig, grants):
    conn = rig.d.conn(timeout=30)
    for g in grants:
        env = envelope(type_="grant.updated", id_="back-" + g, grant_id=g,
                       email=g + "@example.com", code=25027,
                       extra_object={"reauthentication_flag": True})
        rig.d.post_nylas(env, conn=conn)
    conn.close()


def browser(profile):
    opts = Options()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--user-data-dir=" + profile, "--no-first-run", "--no-default-browser-check",
              "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--disable-default-apps", "--window-size=1280,900"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(service=service, options=opts)


# The page redraws itself every 5 s: what is read of it is read in one script
# (the redraw is one task, so never half done), and a click that meets a
# redrawn element looks for it again.
QUERY = """
return Array.from(document.querySelectorAll(arguments[0])).map(function (e) {
  return {text: e instanceof HTMLElement ? e.innerText : e.textContent,
          cls: e.getAttribute('class') || '', value: e.getAttribute('value'),
          max: e.getAttribute('max')};
});"""


def query(drv, css):
    return drv.execute_script(QUERY, css)


def texts(drv, css):
    return [e["text"] for e in query(drv, css)]


def app_css(app, css=""):
    return 'section.app[data-app="%s"] %s' % (app, css)


def text_of(drv, app, css):
    return " | ".join(texts(drv, app_css(app, css)))


def click(drv, css):
    for _ in range(10):
        try:
            drv.find_element(By.CSS_SELECTOR, css).click()
            return
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise RuntimeError("cannot click " + css)


def requested_urls(drv):
    """Every URL the browser asked for since the last call (CDP Network.requestWillBeSent),
    the page's or not: (url, the URL of the document that asked)."""
    urls = []
    for entry in drv.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append((msg["params"]["request"]["url"], msg["params"].get("documentURL", "")))
    return urls


def off_host(urls):
    """The requests that would leave 127.0.0.1.  Only http(s) and ws(s) cross a network:
    chrome:// pages (the new tab page the browser opens with) are read from its own
    resources, data: and blob: from memory."""
    return sorted(set(u for u, _ in urls if urllib.parse.urlsplit(u).scheme in
                      ("http", "https", "ws", "wss") and
                      urllib.parse.urlsplit(u).hostname != "127.0.0.1"))


def severe(drv):
    return [e for e in drv.get_log("browser") if e.get("level") == "SEVERE"]


def screenshot(drv, name, width):
    drv.set_window_size(width, 900)
    time.sleep(0.3)
    height = drv.execute_script("return document.documentElement.scrollHeight")
    drv.set_window_size(width, min(max(height + 40, 600), 6000))
    time.sleep(0.3)
    path = os.path.join(OUT, name)
    drv.save_screenshot(path)
    return path


def setup():
    rig = Rig(seed=state(passwords(current_end=PAST_END)),
              app_lines=["rotation_mode = approve", "expiry_poll = 2s",
                         "graph_subscribe_users = no", "owners_from_graph = no"])
    # Plain HTTP on 127.0.0.1 (no tls_cert), the mode behind a proxy: the
    # admin API takes a loopback peer.  staging comes after the rig's own
    # sections, with nothing but its webhook secret and client id.
    rig.d.tls = False
    rig.configure()
    # Approving takes its own token: the page's admin token is refused for it.
    write_secret(os.path.join(rig.d.dir, "secrets", "approve_token"), APPROVE_TOKEN + "\n")
    with open(rig.d.conf_path) as f:
        conf = f.read()
    assert "[server]\n" in conf
    with open(rig.d.conf_path, "w") as f:
        f.write(conf.replace("[server]\n", "[server]\napprove_token_file = %s/secrets/approve_token\n"
                             % rig.d.dir, 1))
    with open(rig.d.conf_path, "a") as f:
        f.write("\n[app staging]\nnylas_webhook_secret_file = %s/secrets/webhook\n"
                "azure_client_id = 22222222-3333-4444-5555-666666666666\n" % rig.d.dir)
    rig.d.start()
    return rig


def storm(rig, token):
    Storm(rig.d, AFFECTED, threads=4, prefix="sp").run()
    grants = ["grant-%06d" % i for i in range(AFFECTED)]
    ok = wait_for(lambda: any(i.get("state") == "open" and i.get("affected") == AFFECTED
                              for i in app_of(api_status(rig, token), "prod").get("incidents", [])),
                  30, 0.3)
    t.ok(ok, "setup: the storm opened an incident with %d affected grants" % AFFECTED,
         rig.d.log_text()[-2000:])
    come_back(rig, grants[:BACK_FIRST])
    ok = wait_for(lambda: any(i.get("recovered") == BACK_FIRST for i in
                              app_of(api_status(rig, token), "prod").get("incidents", [])), 20, 0.3)
    t.ok(ok, "setup: %d of them are back" % BACK_FIRST)
    return grants


def check_headers(rig, token):
    for path, ctype in (("/status", "text/html"), ("/status.css", "text/css"),
                        ("/status.js", "text/javascript"), ("/status.svg", "image/svg+xml")):
        st, h, body = http(rig, "GET", path)
        t.ok(st == 200 and h.get("content-type", "").startswith(ctype),
             "GET %s: 200 %s" % (path, ctype), (st, h))
        t.eq((h.get("content-security-policy"), h.get("x-content-type-options"),
              h.get("referrer-policy"), h.get("cache-control")),
             ("default-src 'self'; frame-ancestors 'none'", "nosniff", "no-referrer", "no-store"),
             "GET %s: CSP (no inline script or style, no framing), nosniff, no referrer, "
             "no-store" % path)
        src = os.path.join(ROOT, "src", "intake", "status_page" + (path[7:] or ".html"))
        with open(src, "rb") as f:
            t.ok(body == f.read(), "GET %s: the bytes of %s, compiled in"
                 % (path, os.path.relpath(src, ROOT)))
        st, hh, hbody = http(rig, "HEAD", path)
        t.ok(st == 200 and hbody == b"" and hh.get("content-length") == str(len(body)) and
             hh.get("content-security-policy") == h.get("content-security-policy"),
             "HEAD %s: the GET's headers and length, no body" % path, (st, hh, hbody[:80]))
        st, h, _ = http(rig, "POST", path, body=b"x")
        t.ok(st == 405 and h.get("allow") == "GET, HEAD" and
             h.get("content-security-policy", "").startswith("default-src 'self'"),
             "POST %s: 405, Allow: GET, HEAD, with the page's headers" % path, (st, h))
    st, h, body = http(rig, "HEAD", "/healthz")
    t.ok(st == 200 and body == b"" and h.get("content-length") == "3",
         "HEAD /healthz: the length of GET's \"ok\\n\" and no body (the listener's HEAD)", (st, h))
    for path in ("/status/", "/statusx", "/status.map"):
        st, h, _ = http(rig, "GET", path)
        t.ok(st == 404 and h.get("content-security-policy", "").startswith("default-src 'self'"),
             "GET %s: 404, not the page" % path, (st, h))
    st, h, _ = http(rig, "GET", "/api/v1/status", token)
    t.ok(st == 200 and h.get("cache-control") == "no-store" and
         h.get("content-security-policy") == "default-src 'none'; frame-ancestors 'none'",
         "GET /api/v1/status: no-store, and a CSP that runs nothing", h)
    st, h, _ = http(rig, "GET", "/api/v1/status")
    t.ok(st == 401 and h.get("cache-control") == "no-store",
         "the admin API still needs the token (401 without it)", (st, h))


def sign_in(drv, rig, token):
    drv.get_log("performance")  # the new tab page's own, before ours
    drv.get("http://127.0.0.1:%d/status" % rig.d.port)
    field = wait_for(lambda: drv.find_elements(By.ID, "token"), 10, 0.1)
    t.ok(field and field[0].is_displayed(), "the page asks for the admin token first")
    field[0].send_keys(token)
    drv.find_element(By.ID, "signin").click()
    return wait_for(lambda: query(drv, app_css("prod")) and query(drv, app_css("staging")), 15, 0.2)


def check_apps(drv, rig, token):
    doc = api_status(rig, token)
    names = texts(drv, "section.app .app-name")
    t.eq(sorted(names), ["prod", "staging"], "both apps are shown by name")
    overall = texts(drv, "#overall")[0]
    t.ok(doc.get("health") == "critical" and "CRITICAL" in overall,
         "the overall health in words (%s)" % overall)
    t.eq(drv.execute_script("return document.cookie"), "", "no cookie holds the token")
    t.ok(drv.execute_script("return sessionStorage.getItem('rekey.admin_token')") == token,
         "the token is in sessionStorage")
    failing = [(a["name"], c) for a in doc.get("apps", []) for c in a.get("conditions", [])
               if c.get("level") == "critical"]
    t.ok(failing, "setup: some condition fails", doc.get("apps"))
    for app, c in failing[:3]:
        rows = texts(drv, app_css(app, ".conditions-table tbody tr"))
        row = next((r for r in rows if r.startswith(c["type"])), "")
        t.ok(row.split()[1:3] == ["FAIL", c["reason"]],
             "%s: the failing condition %s shows FAIL and its reason %s"
             % (app, c["type"], c["reason"]), rows)
    ok_rows = [(a["name"], c["type"]) for a in doc.get("apps", []) for c in a.get("conditions", [])
               if c.get("level") == "ok"]
    if ok_rows:
        rows = texts(drv, app_css(ok_rows[0][0], ".conditions-table tbody tr"))
        row = next((r for r in rows if r.startswith(ok_rows[0][1])), "")
        t.ok(row.split()[1:2] == ["ok"], "%s: a healthy condition says ok" % ok_rows[0][1], rows)


def check_timeline(drv):
    svg = app_css("prod", "svg.timeline")
    t.eq(len(query(drv, svg)), 1, "prod: the secrets' timeline is an inline SVG")
    bars = query(drv, svg + " rect.bar")
    t.eq(len(bars), 2, "prod: one bar per secret (the rekey-made one and the portal's)")
    labels = texts(drv, svg + " text.secret-label")
    in_use = [x for x in labels if "IN USE, ENDED" in x]
    t.ok(len(in_use) == 1 and in_use[0].startswith("cur"),
         "prod: the in-use secret (hint cur) is marked IN USE in words, and ENDED", labels)
    t.eq(len(query(drv, svg + " rect.bar.in-use")), 1,
         "prod: and its bar is drawn apart")
    today = texts(drv, svg + " text.today-label")
    t.ok(today and time.strftime("%Y-%m-%d", time.gmtime()) in today[0],
         "prod: today's line, labelled with today's date")
    marks = texts(drv, svg + " text.mark-label")
    t.ok(any(m.startswith("rotate before") for m in marks) and
         any(m.startswith("warn ") for m in marks),
         "prod: the rotate-before and warning marks are drawn", marks)
    table = text_of(drv, "prod", ".secrets-table tbody tr")
    t.ok("IN USE" in table, "prod: the secrets' table says which is in use", table)


def incident_text(drv):
    return text_of(drv, "prod", ".incident.open .progress-text")


def check_incident(drv, rig, token, grants):
    cause = text_of(drv, "prod", ".incident.open .cause")
    t.ok(cause.startswith("secret_expired"), "prod: the open incident's cause, secret_expired",
         cause)
    ev = text_of(drv, "prod", ".incident.open .evidence li")
    t.ok("7000222" in ev, "prod: its evidence (the 7000222 answer)", ev)
    first = incident_text(drv)
    t.ok(first.startswith("%d of %d users re-authenticated" % (BACK_FIRST, AFFECTED)),
         "prod: the re-authentication progress: %s" % first)
    bar = query(drv, app_css("prod", ".incident.open progress"))
    t.ok(bar and bar[0]["value"] == str(BACK_FIRST) and bar[0]["max"] == str(AFFECTED),
         "prod: and its progress bar", bar)
    inc = next(i for i in app_of(api_status(rig, token), "prod")["incidents"]
               if i["state"] == "open")
    prog = inc.get("progress") or [{}]
    t.ok(len(prog) >= 2 and (prog[-1].get("affected"), prog[-1].get("recovered")) ==
         (inc["affected"], inc["recovered"]) and
         all(a["affected"] <= b["affected"] and a["recovered"] <= b["recovered"] and
             a["at"] <= b["at"] for a, b in zip(prog, prog[1:])),
         "status: the incident's progress over time, never falling, ending at the live counts",
         prog)
    t.ok(query(drv, app_css("prod", ".incident.open svg.history")),
         "prod: and its history over time (SVG)")
    come_back(rig, grants[BACK_FIRST:BACK_FIRST + BACK_LATER])
    want = "%d of %d users re-authenticated" % (BACK_FIRST + BACK_LATER, AFFECTED)
    moved = wait_for(lambda: incident_text(drv).startswith(want), 20, 0.3)
    t.ok(moved, "prod: after %d more users came back, the page's next refresh shows %s"
         % (BACK_LATER, want), incident_text(drv))


def rotation_text(drv):
    return text_of(drv, "prod", ".rotation")


def check_rotation_and_approve(drv, rig, token):
    rot = next((r for r in app_of(api_status(rig, token), "prod").get("rotations", [])
                if r.get("waiting_for_approval")), None)
    t.ok(rot is not None, "setup: a rotation waits for approval")
    if rot is None:
        return
    text = rotation_text(drv)
    t.ok("PLANNED" in text and "WAITING FOR APPROVAL" in text,
         "prod: the rotation is shown waiting for approval", text)
    steps = texts(drv, app_css("prod", "ol.steps li"))
    t.ok(steps[:4] == ["planned", "creating", "created", "testing"] and steps[-1] == "done",
         "prod: with its steps, planned to done", steps)
    btn = texts(drv, app_css("prod", ".rotation button.approve"))
    t.ok(btn and btn[0].startswith("Approve"), "prod: an Approve button", btn)
    click(drv, app_css("prod", ".rotation button.approve"))
    alert = drv.switch_to.alert
    t.ok(rot["id"] in alert.text, "Approve asks for a confirmation naming the rotation",
         alert.text)
    alert.dismiss()
    time.sleep(1.0)
    r = next(x for x in app_of(api_status(rig, token), "prod")["rotations"] if x["id"] == rot["id"])
    t.ok(not r.get("approved"), "dismissed: nothing approved", r)
    # Confirmed, the admin token is refused (approve_token_file): the page asks
    # for the approval token.  Dismissed: nothing approved, and it says so.
    click(drv, app_css("prod", ".rotation button.approve"))
    drv.switch_to.alert.accept()
    prompt = wait_for(lambda: open_alert(drv), 10, 0.2)
    t.ok(prompt is not None and "approve_token_file" in prompt.text,
         "with approve_token_file the page asks for the approval token",
         prompt.text if prompt else None)
    if prompt is None:
        return
    prompt.dismiss()
    err = wait_for(lambda: texts(drv, "#error")[0], 10, 0.2)
    t.ok(err.startswith("Not approved") and "401" in err, "a dismissed prompt: not approved, said so",
         err)
    # The page reads the status again every 5 s; that read must not wipe how the
    # action ended before anyone has read it (a refresh once did, at once).
    read_at = texts(drv, "#read-at")
    moved = wait_for(lambda: texts(drv, "#read-at") != read_at, 15, 0.2)
    still = texts(drv, "#error")
    t.ok(moved and still and still[0] == err, "and it still says so after the next refresh",
         (moved, still))
    r = next(x for x in app_of(api_status(rig, token), "prod")["rotations"] if x["id"] == rot["id"])
    t.ok(not r.get("approved"), "and nothing approved", r)
    click(drv, app_css("prod", ".rotation button.approve"))
    drv.switch_to.alert.accept()
    prompt = wait_for(lambda: open_alert(drv), 10, 0.2)
    t.ok(prompt is not None, "asked again on the next approval")
    if prompt is None:
        return
    prompt.send_keys(APPROVE_TOKEN)
    prompt.accept()
    done = rig.wait_state(rot["id"], timeout=40)
    t.eq(done and done["state"], "done", "confirmed: the API approved it and it ran to done",
         rig.d.log_text()[-2000:])
    notice = wait_for(lambda: texts(drv, "#notice")[0], 10, 0.2)
    t.ok("approved" in notice, "the page says it was approved", notice)
    shown = wait_for(lambda: "DONE" in rotation_text(drv), 15, 0.3)
    steps = query(drv, app_css("prod", ".rotation ol.steps li"))
    t.ok(shown and steps and all(e["cls"] == "done" for e in steps),
         "prod: the page shows the rotation DONE, every step passed", rotation_text(drv))
    t.ok("Published" in rotation_text(drv), "prod: with the time it published")
    kept = drv.execute_script("var o = []; for (var i = 0; i < sessionStorage.length; i++)"
                              " o.push(sessionStorage.getItem(sessionStorage.key(i)));"
                              " return o.join(' ');")
    t.ok(APPROVE_TOKEN not in kept and token in kept,
         "the approval token is not kept (the admin token is, in sessionStorage)")


def open_alert(drv):
    """The open alert, confirm or prompt, or None."""
    try:
        a = drv.switch_to.alert
        a.text
        return a
    except Exception:
        return None


def check_resolve(drv, rig, token):
    inc = next(i for i in app_of(api_status(rig, token), "prod")["incidents"]
               if i["state"] == "open")
    click(drv, app_css("prod", ".incident.open button.resolve"))
    alert = drv.switch_to.alert
    t.ok(inc["id"] in alert.text, "Resolve asks for a confirmation", alert.text)
    alert.accept()
    ok = wait_for(lambda: any(i["id"] == inc["id"] and i["state"] == "resolved" and
                              i.get("resolved_by") == "operator" for i in
                              app_of(api_status(rig, token), "prod")["incidents"]), 10, 0.2)
    t.ok(ok, "confirmed: the API resolved the incident, by the operator")
    gone = wait_for(lambda: not query(drv, app_css("prod", ".incident.open")), 15, 0.3)
    t.ok(gone and "No open incident" in text_of(drv, "prod", ".incidents"),
         "the page no longer shows it open")


def check_outbox(drv):
    text = text_of(drv, "prod", ".outbox")
    t.ok("Sent" in text and "Pending" in text and "Failed" in text and "Last error" in text,
         "prod: the outbox's sent, pending, failed and last error", text)


def check_wrong_token(drv):
    drv.find_element(By.ID, "signout").click()
    t.ok(not query(drv, "section.app"), "signing out clears the data")
    drv.find_element(By.ID, "token").send_keys("not-the-token")
    drv.find_element(By.ID, "signin").click()
    err = wait_for(lambda: texts(drv, "#error")[0], 10, 0.2)
    t.ok("refused" in err and "401" in err, "a wrong token shows an error: %s" % err)
    body = texts(drv, "body")[0]
    t.ok(not query(drv, "section.app") and "prod" not in body and
         "staging" not in body, "and no app data", body[:500])
    t.ok(drv.execute_script("return sessionStorage.getItem('rekey.admin_token')") is None,
         "and the refused token is not kept")


def main():
    os.makedirs(OUT, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="rekey-chromium-")
    rig = setup()
    drv = None
    try:
        token = open(os.path.join(rig.d.dir, "secrets", "admin_token")).read().strip()
        grants = storm(rig, token)
        check_headers(rig, token)
        drv = browser(profile)
        t.ok(sign_in(drv, rig, token), "signed in through the form: the apps appear",
             texts(drv, "body")[0][:1000])
        check_apps(drv, rig, token)
        check_timeline(drv)
        check_incident(drv, rig, token, grants)
        check_outbox(drv)
        desktop = screenshot(drv, "status-desktop.png", 1280)
        phone = screenshot(drv, "status-phone.png", 390)
        wide = drv.execute_script("return document.documentElement.scrollWidth")
        t.ok(wide <= 390, "on a phone's width the page needs no sideways scrolling (%d px)" % wide)
        drv.set_window_size(1280, 900)
        t.ok(os.path.getsize(desktop) > 10000 and os.path.getsize(phone) > 10000,
             "screenshots saved: %s, %s" % (desktop, phone))
        if os.environ.get("REKEY_UPDATE_SCREENSHOT") == "1":
            shutil.copyfile(desktop, os.path.join(ROOT, "docs", "status.png"))
        check_rotation_and_approve(drv, rig, token)
        check_resolve(drv, rig, token)
        urls = requested_urls(drv)
        mine = [u for u, doc in urls if doc.startswith("http://127.0.0.1:%d/" % rig.d.port)]
        paths = set(urllib.parse.urlsplit(u).path for u in mine)
        t.ok({"/status", "/status.css", "/status.js", "/status.svg", "/api/v1/status"} <= paths,
             "the performance log holds the page's requests (%d)" % len(mine), sorted(paths))
        t.eq(off_host(urls), [], "no request left 127.0.0.1 (%d requests in all)" % len(urls))
        errs = severe(drv)
        t.ok(all(e.get("source") == "network" and "401" in e.get("message", "") and
                 "/approve" in e.get("message", "") for e in errs),
             "no error in the browser's console but the approvals the admin token could not make",
             errs)
        check_wrong_token(drv)
        errs = severe(drv)
        t.ok(all(e.get("source") == "network" and "401" in e.get("message", "") for e in errs),
             "the console's only errors are the refused token's 401", errs)
        t.eq(off_host(requested_urls(drv)), [], "still nothing asked of another host")
    except Exception as e:
        t.ok(False, "the browser test ran through: %r" % e, rig.d.log_text()[-2000:])
    finally:
        if drv is not None:
            drv.quit()
        shutil.rmtree(profile, ignore_errors=True)
        t.eq(rig.d.stop(), 0, "clean stop")
        rig.stop()
    t.done()


main()
