"""The KafkaTwin web dashboard in a real browser (Chromium driven by Playwright).

  dashboard.py ADMIN_URL BOOTSTRAP TOPIC OUT_DIR --wasm PLUGIN.wasm --pause-cluster ID
               [--token ADMIN_TOKEN] [--read-token READ_TOKEN] [--chromium PATH]

ADMIN_URL is the proxy's admin port (http://127.0.0.1:PORT), BOOTSTRAP its Kafka listener.
Every page is opened with live data and a screenshot of it is written to OUT_DIR. Checked:

- every page renders its data and the browser reports no error (console errors, uncaught
  exceptions, 5xx answers); the browser's own note about a 4xx answer is not counted, since
  the page asks for things that may not exist (a topic's rules) and says so itself;
- a token is asked for on 401 and then used, the event stream included (with --token);
- a chart has points from the metrics history and the event stream;
- a rule made on the rules page (mask_field on a JSON field) masks the next record
  produced through the proxy, read back through the proxy; a bad rule gets its field named;
- a plugin uploaded on the plugins page is listed;
- a quota set on the quotas page is listed; a schema registered on the schemas page is shown,
  and an incompatible one gets the registry's reason;
- with a read token (--read-token) every control that changes something is disabled;
- pausing a cluster turns its row red without a reload: the script prints
  "READY-TO-PAUSE <id>" and waits for a line "PAUSED" on stdin; then "READY-TO-RESUME <id>"
  and waits for "RESUMED", and the row must come back healthy.

Prints progress lines and, last, one JSON line with what it saw. Exits 1 with
"FAIL: <what>" on stderr at the first failed check.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOTAL_TIMEOUT_S = 420
WAIT_MS = 30_000
# How long a paused cluster may take to show as down (and back): the health probe and the
# circuit breaker decide, the page only has to follow within one event.
STATUS_WAIT_MS = 60_000


class Failed(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def check(cond, msg):
    if not cond:
        raise Failed(msg)


def watchdog():
    time.sleep(TOTAL_TIMEOUT_S)
    sys.stderr.write(f"FAIL: dashboard.py exceeded {TOTAL_TIMEOUT_S}s\n")
    sys.stderr.flush()
    os._exit(1)


# ---------------------------------------------------------------- Kafka side


def create_topic(bootstrap, topic, partitions=1):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fut = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic]
    try:
        fut.result(timeout=30)
    except KafkaException as e:
        if "TOPIC_ALREADY_EXISTS" not in str(e):
            raise


def produce_one(bootstrap, topic, value):
    """Produces one record; its (partition, offset)."""
    p = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 20000, "linger.ms": 0})
    got = {}

    def report(err, msg):
        got["err"], got["at"] = err, (None if err else (msg.partition(), msg.offset()))

    p.produce(topic, value=value.encode(), callback=report)
    p.flush(30)
    check("err" in got, f"no delivery report for the record produced to {topic}")
    check(got["err"] is None, f"producing to {topic} failed: {got['err']}")
    return got["at"]


def read_at(bootstrap, topic, partition, offset):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "dashboard-check-" + uuid.uuid4().hex[:8],
                  "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, partition, offset)])
        deadline = time.time() + 30
        while time.time() < deadline:
            m = c.poll(1.0)
            if m is None or m.error():
                continue
            return m.value().decode()
        raise Failed(f"nothing read back from {topic}[{partition}] at offset {offset}")
    finally:
        c.close()


class Traffic:
    """A slow producer and a consumer group in the background, so the pages and charts have
    something to show (rates, lag, a group with a member)."""

    def __init__(self, bootstrap, topic, group):
        self.bootstrap, self.topic, self.group = bootstrap, topic, group
        self.stop = threading.Event()
        self.produced = 0
        self.consumed = 0
        self.threads = [threading.Thread(target=self._produce, daemon=True),
                        threading.Thread(target=self._consume, daemon=True)]

    def start(self):
        for t in self.threads:
            t.start()

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)

    def _produce(self):
        p = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 20, "message.timeout.ms": 10000})
        i = 0
        while not self.stop.is_set():
            for _ in range(20):
                value = json.dumps({"n": i, "name": f"user-{i}", "email": f"user{i}@example.com"})
                try:
                    p.produce(self.topic, value=value.encode())
                    self.produced += 1
                except BufferError:
                    pass
                i += 1
            p.poll(0)
            self.stop.wait(0.2)
        p.flush(5)

    def _consume(self):
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group,
                      "auto.offset.reset": "earliest", "enable.auto.commit": True,
                      "auto.commit.interval.ms": 1000, "session.timeout.ms": 10000})
        c.subscribe([self.topic])
        try:
            while not self.stop.is_set():
                m = c.poll(0.5)
                if m is not None and not m.error():
                    self.consumed += 1
                    # Slower than the producer, so the group has some lag to chart.
                    if self.consumed % 10 == 0:
                        time.sleep(0.1)
        finally:
            c.close()


# ---------------------------------------------------------------- browser side


class Browser:
    def __init__(self, pw, chromium, base, out_dir):
        self.base = base.rstrip("/")
        self.out_dir = out_dir
        self.errors = []
        self.shots = []
        self.browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)

    def page(self, token=None, answer_prompt=None):
        """A fresh browser context and page; `token` preset in sessionStorage, or
        `answer_prompt` typed into the token prompt."""
        ctx = self.browser.new_context(viewport={"width": 1400, "height": 1000})
        if token:
            ctx.add_init_script(f"sessionStorage.setItem('kafkatwin-token', {json.dumps(token)})")
        page = ctx.new_page()
        page.set_default_timeout(WAIT_MS)
        page.prompts = 0

        def on_console(msg):
            text = msg.text
            # The browser's own line for a 4xx answer: the page handles those answers itself.
            if msg.type == "error" and not (text.startswith("Failed to load resource: the server responded with a status of 4")):
                self.errors.append(f"console {msg.type}: {text} ({page.url})")

        def on_dialog(d):
            if d.type == "prompt":
                page.prompts += 1
                if answer_prompt:
                    d.accept(answer_prompt)
                else:
                    d.dismiss()
            else:
                d.accept()  # confirmations of deletes

        def on_response(r):
            if r.status >= 500:
                self.errors.append(f"HTTP {r.status} for {r.request.method} {r.url}")

        page.on("console", on_console)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e} ({page.url})"))
        page.on("dialog", on_dialog)
        page.on("response", on_response)
        return page

    def go(self, page, route):
        page.goto(f"{self.base}/#/{route}")
        page.wait_for_selector(f'main[data-page="{route.split("/")[0]}"]', state="attached")

    def shot(self, page, name):
        path = os.path.join(self.out_dir, name + ".png")
        page.screenshot(path=path, full_page=True)
        self.shots.append(path)
        log(f"screenshot {path}")

    def assert_clean(self, where):
        check(not self.errors, f"browser errors ({where}):\n  " + "\n  ".join(self.errors))


def wait_js(page, expr, what, timeout=WAIT_MS, arg=None):
    try:
        page.wait_for_function(expr, arg=arg, timeout=timeout)
    except PlaywrightError as e:
        raise Failed(f"{what} (waited {timeout / 1000:.0f}s): {str(e).splitlines()[0]}") from None


def wait_sel(page, selector, what, timeout=WAIT_MS, state="visible"):
    try:
        return page.wait_for_selector(selector, timeout=timeout, state=state)
    except PlaywrightError as e:
        raise Failed(f"{what}: {selector} not found within {timeout / 1000:.0f}s: {str(e).splitlines()[0]}") from None


def text_of(page, selector):
    el = page.query_selector(selector)
    return el.inner_text() if el else ""


def line_from_stdin(expected):
    line = sys.stdin.readline()
    check(line.strip() == expected, f"expected {expected!r} on stdin, got {line.strip()!r}")


# ---------------------------------------------------------------- the checks


def check_overview(b, page, clusters_expected):
    b.go(page, "overview")
    wait_js(page, f"document.querySelectorAll('#cluster-table tr[data-cluster]').length >= {clusters_expected}",
            "the overview lists every cluster")
    wait_sel(page, '#cluster-table tr[data-status="healthy"]', "a healthy cluster on the overview")
    # Points from the history and the event stream: at least two x values.
    wait_js(page, "(() => { const c = (window.kafkatwinCharts || {})['chart-records'];"
                  " return c && c.data[0].length >= 2; })()", "the records chart has points")
    for cid in ("chart-records", "chart-bytes", "chart-latency", "chart-consumer-lag", "chart-replication-lag"):
        wait_sel(page, f"#{cid} .uplot", f"chart {cid} is drawn", state="attached")
    wait_js(page, "document.getElementById('live').textContent === 'live'", "the event stream is connected")
    return page.evaluate("(() => { const c = window.kafkatwinCharts['chart-records']; "
                         "return {points: c.data[0].length, series: c.series.length - 1}; })()")


def check_pages(b, page, topic, group):
    b.go(page, "clusters")
    wait_sel(page, "#cluster-table tr[data-cluster]", "clusters page rows")
    b.shot(page, "clusters")

    b.go(page, "topics")
    row = f'#topics-table tr[data-topic="{topic}"]'
    wait_sel(page, row, "the topic on the topics page")
    check("missing" not in text_of(page, row), f"{topic} shown missing on a cluster: {text_of(page, row)!r}")
    b.shot(page, "topics")

    b.go(page, f"topics/{topic}")
    wait_sel(page, "#partitions-table tr[data-partition]", "partition details of the topic")
    wait_sel(page, '#topic-rules tr[data-rule="mask-email"]', "the topic's rules on its page", state="attached")
    b.shot(page, "topic")

    b.go(page, "groups")
    wait_sel(page, f'#groups-table tr[data-group="{group}"]', "the consumer group on the groups page")
    b.shot(page, "groups")

    b.go(page, f"groups/{group}")
    wait_sel(page, "#offsets-table tbody tr:not(.empty)", "committed offsets of the group")
    b.shot(page, "group")

    b.go(page, "instances")
    wait_sel(page, "#instances-table tr[data-node]", "an instance on the instances page")
    b.shot(page, "instances")


def check_rules(b, page, bootstrap, topic):
    b.go(page, f"rules/{topic}")
    wait_sel(page, "#rules-table", "the rules table")
    # A bad rule (an empty field path): the API's 400 names the field, shown at its control.
    page.fill("#rule-id", "broken")
    page.select_option("#rule-action", "mask_field")
    page.fill("#rule-action-field", "")
    page.click("#rule-form button[type=submit]")
    err = wait_sel(page, '#rule-form [data-for="action-field"] .field-error', "a field error at the action's field")
    err_text = err.inner_text()
    check("actions[0].field" in err_text, f"the field error does not name the field: {err_text!r}")
    log(f"bad rule refused: {err_text}")

    # The rule through the form fields: mask the email field.
    page.fill("#rule-id", "mask-email")
    page.fill("#rule-name", "Mask e-mail addresses")
    page.select_option("#rule-condition", "field_exists")
    page.fill("#rule-condition-field", "email")
    page.select_option("#rule-action", "mask_field")
    page.fill("#rule-action-field", "email")
    sent = json.loads(page.input_value("#rule-json"))
    check(sent.get("actions") == [{"type": "mask_field", "field": "email"}], f"the form built {sent}")
    page.click("#rule-form button[type=submit]")
    wait_sel(page, '#rules-table tr[data-rule="mask-email"]', "the new rule in the rules table")
    check(not page.query_selector("#rule-form .field-error"), "a field error is still shown after saving")
    b.shot(page, "rules")

    # The next record produced through the proxy comes back masked.
    email = "alice@example.com"
    part, off = produce_one(bootstrap, topic, json.dumps({"name": "alice", "email": email}))
    raw = read_at(bootstrap, topic, part, off)
    got = json.loads(raw)
    check(got.get("email") == "*" * len(email), f"email not masked by the rule made in the page: {raw}")
    check(got.get("name") == "alice", f"other fields changed: {raw}")
    log(f"record at {topic}[{part}]@{off} read back masked: {raw}")


def check_plugins(b, page, wasm, name, topic):
    b.go(page, "plugins")
    wait_sel(page, "#plugins-table", "the plugins table")
    page.set_input_files("#plugin-file", wasm)
    page.fill("#plugin-name", name)
    page.click("#plugin-form button[type=submit]")
    row = wait_sel(page, f'#plugins-table tr[data-plugin="{name}"]', "the uploaded plugin in the list")
    cells = row.inner_text()
    check("produce" in cells or "fetch" in cells or "auth" in cells, f"the plugin row shows no hooks: {cells!r}")

    # Bound by a rule (made on the rules page, on a topic nothing writes to): the plugins page
    # names the rule, and deleting needs force.
    bound_topic = f"{topic}-plugged"
    b.go(page, f"rules/{bound_topic}")
    wait_sel(page, "#rules-table", "the rules table of the plugin's topic")
    page.fill("#rule-id", "uses-plugin")
    page.select_option("#rule-action", "wasm")
    page.fill("#rule-plugin", name)
    rule = json.loads(page.input_value("#rule-json"))
    rule["actions"][0]["config"] = {"fields": "ssn"}
    rule["actions"][0]["on_error"] = "pass"
    page.fill("#rule-json", json.dumps(rule))
    page.click("#rule-form button[type=submit]")
    wait_sel(page, '#rules-table tr[data-rule="uses-plugin"]', "the rule binding the plugin")
    b.go(page, "plugins")
    wait_js(page, "n => (document.querySelector(`#plugins-table tr[data-plugin=\"${n}\"]`) || {}).innerText"
                  "?.includes('uses-plugin')", "the plugin's binding on the plugins page", arg=name)
    b.shot(page, "plugins")
    del_button = f'#plugins-table tr[data-plugin="{name}"] button'
    page.click(del_button)
    wait_sel(page, "text=is bound by a rule", "the refusal to delete a bound plugin")
    check(page.query_selector(f'#plugins-table tr[data-plugin="{name}"]') is not None, "a bound plugin was deleted")
    page.check("#plugin-force")
    page.click(del_button)
    wait_sel(page, f'#plugins-table tr[data-plugin="{name}"]', "the plugin gone after a forced delete", state="detached")
    return cells


def check_quotas(b, page, client_id):
    b.go(page, "quotas")
    wait_sel(page, "#quotas-table", "the quotas table")
    page.fill("#quota-client", client_id)
    page.fill("#quota-produce", "1048576")
    page.fill("#quota-requests", "500")
    page.click("#quota-form button[type=submit]")
    wait_sel(page, f'#quotas-table tr[data-entity="client-id={client_id}"]', "the quota set on the quotas page")
    page.fill("#quota-lookup", client_id)
    page.click("#quota-lookup-form button[type=submit]")
    wait_sel(page, "#quota-current-table", "the current rates of the client")
    # A refused value is shown at its field.
    page.fill("#quota-client", client_id)
    page.fill("#quota-produce", "-5")
    page.click("#quota-form button[type=submit]")
    err = wait_sel(page, "#quota-form .field-error", "a field error for a negative rate").inner_text()
    check("produce_byte_rate" in err, f"the quota error does not name the field: {err!r}")
    b.shot(page, "quotas")


def check_schemas(b, page, subject):
    b.go(page, "schemas")
    v1 = {"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"}]}
    page.fill("#schema-subject", subject)
    page.select_option("#schema-type", "AVRO")
    page.fill("#schema-text", json.dumps(v1))
    page.click("#schema-form button[type=submit]")
    wait_sel(page, "#schema-view", f"the registered schema of {subject}")
    wait_sel(page, f'#subjects a[href="#/schemas/{subject}"]', "the new subject in the list")
    # A new field without a default breaks BACKWARD compatibility: 409 with the reason.
    v2 = {"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"}, {"name": "qty", "type": "int"}]}
    page.fill("#schema-text", json.dumps(v2))
    page.click("#schema-form button[type=submit]")
    err = wait_sel(page, "#schema-form .field-error", "the compatibility error").inner_text()
    check("qty" in err or "compatib" in err.lower(), f"the 409 reason is not shown: {err!r}")
    log(f"incompatible schema refused: {err}")
    b.shot(page, "schemas")


def check_read_only(b, read_token, topic):
    page = b.page(token=read_token)
    b.go(page, f"rules/{topic}")
    wait_sel(page, "#rules-table", "the rules table with a read token")
    wait_js(page, "document.body.classList.contains('readonly')", "the page knows the token is read-only")
    for sel in ("#rule-form", "#rules-table button"):
        for el in page.query_selector_all(sel):
            check(el.get_attribute("disabled") is not None or "readonly-hidden" in (el.get_attribute("class") or ""),
                  f"{sel} is usable with a read token")
    check(not page.is_visible("#rule-form"), "the rule form is visible with a read token")
    for route, sel in (("plugins", "#plugin-form"), ("quotas", "#quota-form"), ("schemas", "#schema-form")):
        b.go(page, route)
        wait_sel(page, sel, f"{route} page with a read token", state="attached")
        check(not page.is_visible(sel), f"{sel} is visible with a read token")
        check(page.eval_on_selector(f"{sel} button[type=submit]", "e => e.disabled"), f"{sel} can be submitted with a read token")
    wait_js(page, "document.getElementById('live').textContent === 'live'",
            "the event stream is connected with the read token")
    b.shot(page, "read-only")
    page.context.close()


def check_pause(b, page, cluster):
    b.go(page, "overview")
    row = f'#cluster-table tr[data-cluster="{cluster}"]'
    wait_sel(page, row + '[data-status="healthy"]', f"{cluster} healthy before the pause")
    # A marker that a reload would lose.
    page.evaluate("window.__noReload = true")
    log(f"READY-TO-PAUSE {cluster}")
    line_from_stdin("PAUSED")
    started = time.time()
    wait_sel(page, row + '[data-status="down"]', f"{cluster} shown down after the pause", timeout=STATUS_WAIT_MS)
    took = time.time() - started
    cls = page.get_attribute(row, "class") or ""
    check("down" in cls.split(), f"the row of {cluster} is not red (class {cls!r})")
    check("down" in text_of(page, row), f"the row of {cluster} does not say down: {text_of(page, row)!r}")
    color = page.eval_on_selector(row + " th", "e => getComputedStyle(e).color")
    check(color != page.eval_on_selector('#cluster-table tr[data-status="healthy"] th', "e => getComputedStyle(e).color"),
          f"the down row is coloured as a healthy one ({color})")
    check(page.evaluate("window.__noReload === true"), "the page was reloaded")
    log(f"{cluster} shown down {took:.1f}s after the pause, no reload")
    b.shot(page, "overview-cluster-down")
    log(f"READY-TO-RESUME {cluster}")
    line_from_stdin("RESUMED")
    wait_sel(page, row + '[data-status="healthy"]', f"{cluster} healthy again after the resume", timeout=STATUS_WAIT_MS)
    check(page.evaluate("window.__noReload === true"), "the page was reloaded")
    return took


def main():
    ap = argparse.ArgumentParser(description="KafkaTwin dashboard in a real browser")
    ap.add_argument("admin_url")
    ap.add_argument("bootstrap")
    ap.add_argument("topic")
    ap.add_argument("out_dir")
    ap.add_argument("--wasm", required=True, help="a plugin component to upload")
    ap.add_argument("--pause-cluster", required=True, help="the cluster the caller pauses when asked")
    ap.add_argument("--clusters", type=int, default=2, help="how many clusters the proxy has")
    ap.add_argument("--token", help="admin token: typed into the page's token prompt")
    ap.add_argument("--read-token", help="read token: the page must offer no changes with it")
    ap.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    args = ap.parse_args()
    threading.Thread(target=watchdog, daemon=True).start()
    os.makedirs(args.out_dir, exist_ok=True)
    check(os.path.exists(args.chromium), f"{args.chromium} not found: run tests/setup.sh (it installs chromium)")
    check(os.path.exists(args.wasm), f"plugin module {args.wasm} not found")

    t0 = time.time()
    topic = args.topic
    group = topic + "-readers"
    create_topic(args.bootstrap, topic)
    traffic = Traffic(args.bootstrap, topic, group)
    traffic.start()
    report = {"topic": topic}
    page = None
    failure = None
    with sync_playwright() as pw:
        b = Browser(pw, args.chromium, args.admin_url, args.out_dir)
        try:
            page = b.page(answer_prompt=args.token)
            chart = check_overview(b, page, args.clusters)
            if args.token:
                check(page.prompts >= 1, "the page never asked for a token though the API needs one")
            report["chart_points"] = chart["points"]
            log(f"overview: records chart has {chart['points']} points")
            check_rules(b, page, args.bootstrap, topic)
            check_pages(b, page, topic, group)
            report["plugin_row"] = check_plugins(b, page, args.wasm, "dashboard-" + uuid.uuid4().hex[:6], topic)
            check_quotas(b, page, "dashboard-client")
            check_schemas(b, page, topic + "-value")
            if args.read_token:
                check_read_only(b, args.read_token, topic)
            # The overview again, after the traffic: the picture of the dashboard.
            b.go(page, "overview")
            wait_js(page, "(() => { const c = (window.kafkatwinCharts || {})['chart-records'];"
                          " return c && c.data[0].length >= 2; })()", "the records chart has points")
            page.wait_for_timeout(2500)  # one more event, so the legend and stats are current
            b.shot(page, "overview")
            traffic.close()
            report["down_after_s"] = round(check_pause(b, page, args.pause_cluster), 1)
            b.assert_clean("end")
        except (Failed, KafkaException) as e:
            failure = str(e)
            if page is not None:
                try:
                    b.shot(page, "failure")
                except PlaywrightError:
                    pass
        finally:
            traffic.close()
            b.browser.close()
    if failure:
        sys.stderr.write(f"FAIL: {failure}\n")
        if b.errors:
            sys.stderr.write("browser errors:\n  " + "\n  ".join(b.errors) + "\n")
        sys.exit(1)
    report.update(produced=traffic.produced, consumed=traffic.consumed, screenshots=b.shots,
                  seconds=round(time.time() - t0, 1))
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
