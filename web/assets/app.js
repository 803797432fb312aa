// KafkaTwin dashboard: plain JavaScript, no build step. Pages are hash routes rendered into
// <main>; cluster health and traffic arrive over Server-Sent Events (/api/v1/events), the rest
// is read from the admin API when a page opens and refreshed while it stays open.
"use strict";
(() => {
  const TOKEN_KEY = "kafkatwin-token";
  const WINDOW_MS = 15 * 60 * 1000;
  const PAGE_REFRESH_MS = 5000;
  const COLORS = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626"];

  const state = {
    me: null,
    canChange: true,
    clusters: null, // [ClusterView], newest
    samples: [], // [MetricsSample], oldest first, last 15 minutes
    charts: [], // mounted chart records {def, el, plot, signature}
    timers: [],
    gen: 0, // bumped on every navigation: late answers for an old page are dropped
    tokenDeclined: false,
    needToken: false,
  };
  window.kafkatwinCharts = {};

  // ------------------------------------------------------------------ DOM helpers

  // h("a", {href: "#/x", class: "c", onclick: fn}, "text", child, [more]) builds an element.
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = v;
      else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
      else if (k === "value") el.value = v;
      else if (k === "checked" || k === "disabled" || k === "selected") el[k] = Boolean(v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function table(caption, headers, rows, attrs) {
    return h("div", { class: "table-wrap" },
      h("table", attrs || {},
        caption ? h("caption", {}, caption) : null,
        h("thead", {}, h("tr", {}, headers.map(x => (Array.isArray(x)
          ? h("th", { scope: "col", class: x[1] }, x[0]) // [label, "num"]: right-aligned as its numbers
          : h("th", { scope: "col" }, x))))),
        h("tbody", {}, rows)));
  }

  function emptyRow(cols, text) {
    return h("tr", { class: "empty" }, h("td", { colspan: cols }, text));
  }

  function message(kind, text) {
    return h("p", { class: "msg " + kind, role: kind === "error" ? "alert" : "status" }, text);
  }

  function section(title, ...children) {
    const id = "sec-" + title.toLowerCase().replace(/[^a-z0-9]+/g, "-");
    return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), children);
  }

  function field(label, control, hint) {
    if (!control.id) control.id = "f-" + Math.random().toString(36).slice(2, 9);
    return h("div", { class: "field" },
      h("label", { for: control.id }, label), control,
      hint ? h("small", { class: "hint" }, hint) : null);
  }

  // Controls that change something carry data-change: with a read-only token they are
  // disabled and hidden (the API would answer 403 anyway).
  function applyRole(root) {
    document.body.classList.toggle("readonly", !state.canChange);
    if (state.canChange) return;
    for (const el of root.querySelectorAll("[data-change]")) {
      el.classList.add("readonly-hidden");
      for (const c of [el, ...el.querySelectorAll("button, input, select, textarea, fieldset")]) {
        if ("disabled" in c) c.disabled = true;
        c.setAttribute("disabled", "");
      }
    }
  }

  // ------------------------------------------------------------------ formatting

  function num(v, digits = 1) {
    if (v === null || v === undefined || Number.isNaN(v)) return "—";
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(digits) + " G";
    if (a >= 1e6) return (v / 1e6).toFixed(digits) + " M";
    if (a >= 1e4) return (v / 1e3).toFixed(digits) + " k";
    return Number.isInteger(v) ? String(v) : v.toFixed(a < 10 ? 2 : 1);
  }

  function bytes(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return "—";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    let x = v;
    while (Math.abs(x) >= 1024 && i < units.length - 1) { x /= 1024; i++; }
    return (i === 0 ? String(Math.round(x)) : x.toFixed(1)) + " " + units[i];
  }

  function ms(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return "—";
    return (v === 0 ? "0" : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v)) + " ms";
  }

  function rate(v) { return v === null || v === undefined ? "not set" : bytes(v) + "/s"; }

  function when(atMs) {
    return atMs ? new Date(atMs).toLocaleTimeString() : "—";
  }

  function enc(s) { return encodeURIComponent(s); }

  // ------------------------------------------------------------------ admin API

  // Every answer comes back as {status, ok, data, error, field, headers}; nothing throws, so a
  // 404 or an unreachable proxy is shown on the page rather than left as an uncaught error.
  async function api(path, opts = {}) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = Object.assign({}, opts.headers || {});
    if (token) headers.Authorization = "Bearer " + token;
    let body = opts.body;
    if (opts.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.json);
    }
    let resp;
    try {
      resp = await fetch(path, { method: opts.method || "GET", headers, body, cache: "no-store" });
    } catch (e) {
      return { status: 0, ok: false, data: null, error: "the admin API is unreachable (" + e.message + ")" };
    }
    if (resp.status === 401 && !opts.retried && askToken(token)) {
      return api(path, Object.assign({}, opts, { retried: true }));
    }
    const text = await resp.text().catch(() => "");
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (_) { data = text; }
    }
    const out = { status: resp.status, ok: resp.ok, data, headers: resp.headers };
    if (!resp.ok) {
      out.error = (data && data.error) || (typeof data === "string" && data.trim()) || "HTTP " + resp.status;
      out.field = data && typeof data === "object" ? data.field : undefined;
      if (resp.status === 401) out.error = "a token is needed: " + out.error;
    }
    return out;
  }

  // With admin_api tokens set the API answers 401 until a token is sent: ask once and keep it
  // for this browser session only. Whether to retry the request.
  function askToken(used) {
    const now = sessionStorage.getItem(TOKEN_KEY);
    if (now && now !== used) return true; // another request already asked
    if (state.tokenDeclined) return false;
    const entered = window.prompt("This KafkaTwin admin API needs a token (admin_api.tokens):");
    if (!entered) {
      state.tokenDeclined = true;
      renderWho();
      return false;
    }
    sessionStorage.setItem(TOKEN_KEY, entered.trim());
    // The event stream carries the token in its URL: reopen it with the new one.
    setTimeout(connectEvents, 0);
    return true;
  }

  // ------------------------------------------------------------------ live data (SSE)

  let events = null;
  let pollTimer = null;
  let reconnectTimer = null;

  function connectEvents() {
    if (events) events.close();
    clearTimeout(reconnectTimer);
    const token = sessionStorage.getItem(TOKEN_KEY);
    // EventSource cannot send headers: the token goes in the query.
    const url = "/api/v1/events" + (token ? "?token=" + enc(token) : "");
    const es = new EventSource(url);
    events = es;
    es.addEventListener("open", () => { setLive("live"); stopPolling(); });
    es.addEventListener("summary", ev => {
      const s = parseJson(ev.data);
      if (s && typeof s === "object") addSamples([s]);
    });
    es.addEventListener("clusters", ev => {
      const c = parseJson(ev.data);
      if (Array.isArray(c)) setClusters(c);
    });
    es.addEventListener("error", () => {
      if (events !== es) return;
      if (es.readyState === EventSource.CLOSED) {
        // Refused (401, 404, not an event stream): poll meanwhile, try the stream again later.
        setLive("polling");
        startPolling();
        reconnectTimer = setTimeout(connectEvents, 15000);
      } else {
        setLive("reconnecting");
      }
    });
  }

  function parseJson(text) {
    try { return JSON.parse(text); } catch (_) { return null; }
  }

  function startPolling() {
    if (pollTimer) return;
    const tick = async () => {
      const [c, s] = await Promise.all([api("/api/v1/clusters"), api("/api/v1/metrics/summary")]);
      if (c.ok && Array.isArray(c.data)) setClusters(c.data);
      if (s.ok && s.data && typeof s.data === "object") addSamples([s.data]);
    };
    tick();
    pollTimer = setInterval(tick, 2000);
  }

  function stopPolling() {
    clearInterval(pollTimer);
    pollTimer = null;
  }

  function setLive(mode) {
    const el = document.getElementById("live");
    const text = { live: "live", reconnecting: "reconnecting…", polling: "polling every 2 s" }[mode] || mode;
    el.textContent = text;
    el.className = "live " + mode;
  }

  function setClusters(clusters) {
    state.clusters = clusters;
    for (const tbody of document.querySelectorAll("tbody[data-clusters]")) {
      fillClusterRows(tbody, tbody.dataset.clusters === "full");
    }
    for (const el of document.querySelectorAll("[data-cluster-details]")) fillClusterDetails(el);
    updateStats();
  }

  function addSamples(list) {
    const seen = new Set(state.samples.map(s => s.at_ms));
    let added = false;
    for (const s of list) {
      if (!s || typeof s.at_ms !== "number" || seen.has(s.at_ms)) continue;
      seen.add(s.at_ms);
      state.samples.push(s);
      added = true;
    }
    if (!added) return;
    state.samples.sort((a, b) => a.at_ms - b.at_ms);
    const newest = state.samples[state.samples.length - 1].at_ms;
    const from = state.samples.findIndex(s => s.at_ms >= newest - WINDOW_MS);
    if (from > 0) state.samples.splice(0, from);
    updateCharts();
    updateStats();
  }

  // ------------------------------------------------------------------ cluster table

  const CLUSTER_COLS = ["Cluster", "Status", "Latency", "Circuit", "Compared", "Connections", "Behind", "Last error"];
  const CLUSTER_COLS_FULL = CLUSTER_COLS.slice(0, 7).concat(["Datacenter", "Priority", "Weight", "Bootstrap servers", "Last error"]);

  function clusterTable(full) {
    const tbody = h("tbody", { "data-clusters": full ? "full" : "short" });
    const t = h("div", { class: "table-wrap" },
      h("table", { id: "cluster-table", class: "clusters" },
        h("caption", {}, "Backend clusters, updated live"),
        h("thead", {}, h("tr", {}, (full ? CLUSTER_COLS_FULL : CLUSTER_COLS).map(x =>
          h("th", { scope: "col", class: ["Latency", "Connections", "Priority", "Weight"].includes(x) ? "num" : null }, x)))),
        tbody));
    fillClusterRows(tbody, full);
    return t;
  }

  function statusBadge(status) {
    const icon = { healthy: "●", degraded: "▲", down: "✖" }[status] || "?";
    return h("span", { class: "badge " + status },
      h("span", { "aria-hidden": "true" }, icon + " "), status || "unknown");
  }

  function behindText(c) {
    if (!c.behind_partitions && !c.lag_records) return "in sync";
    return `${c.behind_partitions} partition${c.behind_partitions === 1 ? "" : "s"}, ${num(c.lag_records)} record${c.lag_records === 1 ? "" : "s"}`;
  }

  function fillClusterRows(tbody, full) {
    const cols = full ? CLUSTER_COLS_FULL.length : CLUSTER_COLS.length;
    if (!state.clusters) {
      tbody.replaceChildren(emptyRow(cols, "waiting for the first update…"));
      return;
    }
    if (!state.clusters.length) {
      tbody.replaceChildren(emptyRow(cols, "no clusters configured"));
      return;
    }
    const rows = state.clusters.map(c => {
      const status = c.status || (c.reachable ? "healthy" : "down");
      // The circuit is open while the cluster is down; a cluster that was away takes writes
      // again once it has been compared with the others.
      const circuit = status === "down" ? "open" : "closed";
      const cells = [
        h("th", { scope: "row" }, full ? c.id : h("a", { href: "#/clusters" }, c.id)),
        h("td", {}, statusBadge(status)),
        h("td", { class: "num" }, ms(c.latency_ms)),
        h("td", {}, circuit),
        h("td", {}, c.compared ? "yes" : "not yet"),
        h("td", { class: "num" }, c.connections ?? "—"),
        h("td", { class: c.behind_partitions ? "warn" : "" }, behindText(c)),
      ];
      if (full) {
        cells.push(h("td", {}, c.datacenter || "—"),
          h("td", { class: "num" }, c.priority ?? "—"), h("td", { class: "num" }, c.weight ?? "—"),
          h("td", {}, (c.bootstrap_servers || []).join(", ")));
      }
      cells.push(c.last_error ? h("td", { class: "error-text" }, c.last_error) : h("td", { class: "muted" }, "—"));
      return h("tr", { "data-cluster": c.id, "data-status": status, class: status }, cells);
    });
    tbody.replaceChildren(...rows);
  }

  function fillClusterDetails(el) {
    const items = [];
    for (const c of state.clusters || []) {
      for (const t of c.partition_mismatches || []) {
        items.push(h("li", {}, `${c.id}: topic ${t} has another partition count than on the other clusters`));
      }
      for (const d of c.divergent_partitions || []) {
        items.push(h("li", {}, `${c.id}: ${d.topic}[${d.partition}] holds another history from offset ${d.first_differing_offset} (excluded until reseeded)`));
      }
    }
    el.replaceChildren(items.length ? h("ul", { class: "problems" }, items) : h("p", { class: "muted" }, "No partition count mismatches and no divergent partitions."));
  }

  // ------------------------------------------------------------------ stats and charts

  function latest() { return state.samples[state.samples.length - 1] || null; }

  function updateStats() {
    const el = document.getElementById("stats");
    if (!el) return;
    const s = latest();
    const clusters = state.clusters || [];
    const up = clusters.filter(c => c.status === "healthy").length;
    const lag = s ? Object.values(s.consumer_lag || {}).reduce((a, b) => a + b, 0) : null;
    const items = [
      ["Produce", s ? num(s.produce_records_per_s) + " rec/s" : "—", s ? bytes(s.produce_bytes_per_s) + "/s" : ""],
      ["Fetch", s ? num(s.fetch_records_per_s) + " rec/s" : "—", s ? bytes(s.fetch_bytes_per_s) + "/s" : ""],
      ["p99 latency", s ? "produce " + ms(s.produce_p99_ms) : "—", s ? "fetch " + ms(s.fetch_p99_ms) : ""],
      ["Clusters healthy", state.clusters ? `${up} of ${clusters.length}` : "—",
        clusters.filter(c => c.status === "down").map(c => c.id + " down").join(", ")],
      ["Consumer lag", lag === null ? "—" : num(lag) + " records", s ? Object.keys(s.consumer_lag || {}).length + " groups" : ""],
    ];
    el.replaceChildren(...items.map(([k, v, sub]) =>
      h("div", { class: "stat" }, h("dt", {}, k), h("dd", {}, h("span", { class: "big" }, v), sub ? h("span", { class: "sub" }, sub) : null))));
    const at = document.getElementById("stats-at");
    if (at) at.textContent = s ? "as of " + when(s.at_ms) : "";
  }

  function keysOf(path) {
    const keys = new Set();
    for (const s of state.samples) for (const k of Object.keys(path(s) || {})) keys.add(k);
    return [...keys].sort();
  }

  // Each chart: its container id, title, how values are shown, and its series (computed from
  // the samples, so groups and clusters that appear later get their own line).
  const CHARTS = {
    "chart-records": {
      title: "Records per second", fmt: v => num(v),
      series: () => [["produce", s => s.produce_records_per_s], ["fetch", s => s.fetch_records_per_s]],
    },
    "chart-bytes": {
      title: "Bytes per second", fmt: v => bytes(v),
      series: () => [["produce", s => s.produce_bytes_per_s], ["fetch", s => s.fetch_bytes_per_s]],
    },
    "chart-latency": {
      title: "p99 latency (ms)", fmt: v => ms(v),
      series: () => [["produce p99", s => s.produce_p99_ms], ["fetch p99", s => s.fetch_p99_ms]],
    },
    "chart-consumer-lag": {
      title: "Consumer lag by group (records)", fmt: v => num(v), empty: "no consumer groups yet",
      series: () => keysOf(s => s.consumer_lag).map(g => [g, s => (s.consumer_lag || {})[g]]),
    },
    "chart-replication-lag": {
      title: "Replication lag by cluster (records)", fmt: v => num(v),
      series: () => keysOf(s => s.clusters).map(c => [c, s => ((s.clusters || {})[c] || {}).replication_lag_records]),
    },
    "chart-cluster-bytes": {
      title: "Bytes per second by cluster", fmt: v => bytes(v),
      series: () => keysOf(s => s.clusters).flatMap(c => [
        [c + " produce", s => ((s.clusters || {})[c] || {}).produce_bytes_per_s],
        [c + " fetch", s => ((s.clusters || {})[c] || {}).fetch_bytes_per_s],
      ]),
    },
    "chart-cluster-latency": {
      title: "p99 latency by cluster (ms)", fmt: v => ms(v),
      series: () => keysOf(s => s.clusters).flatMap(c => [
        [c + " produce", s => ((s.clusters || {})[c] || {}).produce_p99_ms],
        [c + " fetch", s => ((s.clusters || {})[c] || {}).fetch_p99_ms],
      ]),
    },
  };

  function chartFigure(id) {
    const def = CHARTS[id];
    const fig = h("figure", { class: "chart" },
      h("figcaption", { id: id + "-title" }, def.title),
      h("div", { id, class: "plot", role: "img", "aria-labelledby": id + "-title" }),
      h("p", { class: "chart-note muted", id: id + "-note" }));
    return fig;
  }

  function mountCharts() {
    for (const id of Object.keys(CHARTS)) {
      const el = document.getElementById(id);
      if (el) state.charts.push({ id, def: CHARTS[id], el, plot: null, signature: null });
    }
    updateCharts();
  }

  function destroyCharts() {
    for (const c of state.charts) if (c.plot) c.plot.destroy();
    state.charts = [];
    window.kafkatwinCharts = {};
  }

  function updateCharts() {
    if (typeof uPlot === "undefined") return;
    const xs = state.samples.map(s => s.at_ms / 1000);
    for (const c of state.charts) {
      const series = c.def.series();
      const data = [xs, ...series.map(([, get]) => state.samples.map(s => {
        const v = get(s);
        return typeof v === "number" && Number.isFinite(v) ? v : null;
      }))];
      const signature = series.map(([name]) => name).join("\n");
      const width = Math.max(260, c.el.clientWidth || 400);
      if (!c.plot || c.signature !== signature) {
        if (c.plot) c.plot.destroy();
        c.el.replaceChildren();
        c.plot = new uPlot(chartOptions(c.def, series, width), data, c.el);
        c.signature = signature;
        window.kafkatwinCharts[c.id] = c.plot;
      } else {
        c.plot.setData(data);
      }
      const note = document.getElementById(c.id + "-note");
      if (note) {
        const s = latest();
        note.textContent = !series.length && c.def.empty ? c.def.empty
          : s ? "Latest: " + series.map(([name, get]) => `${name} ${c.def.fmt(get(s))}`).join(", ")
            : "waiting for samples…";
      }
    }
  }

  function chartOptions(def, series, width) {
    return {
      width,
      height: 200,
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true },
        y: { range: (u, min, max) => [0, max > 0 ? max * 1.15 : 1] },
      },
      axes: [
        // Clock times only: uPlot's default two-line date labels crowd a narrow chart.
        { stroke: "#667085", grid: { stroke: "#e4e7ec" }, space: 70,
          values: (u, vals) => vals.map(v => {
            const d = new Date(v * 1000);
            return d.toTimeString().slice(0, d.getSeconds() ? 8 : 5);
          }) },
        { stroke: "#667085", grid: { stroke: "#e4e7ec" }, size: 70, values: (u, vals) => vals.map(v => def.fmt(v)) },
      ],
      series: [
        { label: "time", value: (u, v) => (v === null ? "—" : new Date(v * 1000).toLocaleTimeString()) },
        ...series.map(([name], i) => ({
          label: name,
          stroke: COLORS[i % COLORS.length],
          width: 2,
          value: (u, v) => def.fmt(v),
        })),
      ],
    };
  }

  window.addEventListener("resize", () => {
    for (const c of state.charts) {
      if (c.plot) c.plot.setSize({ width: Math.max(260, c.el.clientWidth), height: 200 });
    }
  });

  // ------------------------------------------------------------------ routing

  const PAGES = {
    overview: { title: "Overview", render: pageOverview },
    clusters: { title: "Clusters", render: pageClusters },
    topics: { title: "Topics", render: pageTopics },
    groups: { title: "Consumer groups", render: pageGroups },
    instances: { title: "Instances", render: pageInstances },
    rules: { title: "Transformation rules", render: pageRules },
    plugins: { title: "Plugins", render: pagePlugins },
    schemas: { title: "Schemas", render: pageSchemas },
    quotas: { title: "Quotas", render: pageQuotas },
  };

  function parseRoute() {
    const raw = location.hash.replace(/^#\/?/, "");
    const parts = raw.split("/").map(p => {
      try { return decodeURIComponent(p); } catch (_) { return p; }
    });
    const page = PAGES[parts[0]] ? parts[0] : "overview";
    return { page, args: PAGES[parts[0]] ? parts.slice(1).filter(Boolean) : [] };
  }

  function every(fn, period) {
    let busy = false;
    const run = async () => {
      if (busy) return;
      busy = true;
      try { await fn(); } finally { busy = false; }
    };
    state.timers.push(setInterval(run, period));
    return run();
  }

  async function route() {
    const gen = ++state.gen;
    for (const t of state.timers) clearInterval(t);
    state.timers = [];
    destroyCharts();
    const { page, args } = parseRoute();
    for (const a of document.querySelectorAll("nav.nav a")) {
      if (a.getAttribute("href") === "#/" + page) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    const main = document.getElementById("main");
    const ctx = {
      gen,
      args,
      main,
      alive: () => gen === state.gen,
      setTitle: t => { document.title = t + " · KafkaTwin"; },
    };
    ctx.setTitle(PAGES[page].title);
    main.replaceChildren(h("p", { class: "muted" }, "loading…"));
    main.dataset.page = page;
    try {
      await PAGES[page].render(ctx);
    } catch (e) {
      if (ctx.alive()) main.replaceChildren(message("error", "This page failed: " + e.message));
    }
    if (ctx.alive()) applyRole(main);
  }

  // Replaces the page content, keeping focus order sane (main is the skip-link target).
  function show(ctx, ...children) {
    if (!ctx.alive()) return false;
    ctx.main.replaceChildren(...children.flat());
    applyRole(ctx.main);
    return true;
  }

  // ------------------------------------------------------------------ pages: overview, clusters

  async function pageOverview(ctx) {
    show(ctx,
      h("div", { class: "page-head" }, h("h1", {}, "Overview"), h("span", { id: "stats-at", class: "muted" })),
      h("dl", { id: "stats", class: "stats" }),
      section("Clusters", clusterTable(false)),
      section("Traffic, last 15 minutes",
        h("div", { class: "charts" }, ["chart-records", "chart-bytes", "chart-latency", "chart-consumer-lag", "chart-replication-lag"].map(chartFigure))));
    updateStats();
    mountCharts();
  }

  async function pageClusters(ctx) {
    show(ctx,
      h("h1", {}, "Clusters"),
      section("Health", clusterTable(true),
        h("p", { class: "muted" }, "Circuit open: requests skip the cluster until it answers again. Compared: a cluster that was away takes writes again once it has been compared with the others.")),
      section("Partition problems", h("div", { "data-cluster-details": "" })),
      section("Traffic by cluster, last 15 minutes",
        h("div", { class: "charts" }, ["chart-cluster-bytes", "chart-cluster-latency", "chart-replication-lag"].map(chartFigure))));
    for (const el of document.querySelectorAll("[data-cluster-details]")) fillClusterDetails(el);
    mountCharts();
  }

  // ------------------------------------------------------------------ pages: topics

  async function pageTopics(ctx) {
    if (ctx.args.length) return pageTopic(ctx, ctx.args.join("/"));
    const filter = h("input", { type: "search", id: "topic-filter", placeholder: "part of a name" });
    const holder = h("div", {}, h("p", { class: "muted" }, "loading…"));
    let topics = null;
    const draw = () => {
      if (!topics) return;
      const q = filter.value.trim().toLowerCase();
      const shown = topics.filter(t => !q || t.name.toLowerCase().includes(q));
      const clusters = [...new Set(topics.flatMap(t => (t.clusters || []).map(c => c.cluster)))].sort();
      const rows = shown.map(t => {
        const by = Object.fromEntries((t.clusters || []).map(c => [c.cluster, c]));
        return h("tr", { "data-topic": t.name },
          h("th", { scope: "row" }, h("a", { href: "#/topics/" + enc(t.name) }, t.name)),
          h("td", { class: "num" }, t.partitions),
          clusters.map(id => topicCell(by[id], t.partitions)));
      });
      holder.replaceChildren(table(null, ["Topic", ["Partitions", "num"], ...clusters], rows.length ? rows : emptyRow(2 + clusters.length, topics.length ? "no topic matches" : "no topics yet"), { id: "topics-table" }));
    };
    filter.addEventListener("input", draw);
    show(ctx, h("h1", {}, "Topics"),
      section("Topics on the clusters",
        h("form", { class: "inline", role: "search", onsubmit: e => e.preventDefault() }, field("Filter", filter)),
        holder));
    await every(async () => {
      const r = await api("/api/v1/topics");
      if (!ctx.alive()) return;
      if (!r.ok) {
        holder.replaceChildren(message("error", "Could not list topics: " + r.error));
        return;
      }
      topics = (r.data || []).slice().sort((a, b) => a.name.localeCompare(b.name));
      draw();
    }, PAGE_REFRESH_MS);
  }

  function topicCell(c, partitions) {
    if (!c || !c.present) return h("td", { class: "bad" }, "✖ missing");
    const notes = [];
    if (c.partitions !== null && c.partitions !== undefined && c.partitions !== partitions) notes.push(`${c.partitions} partitions`);
    if (c.divergent_partitions) notes.push(`${c.divergent_partitions} divergent`);
    if (c.behind_partitions || c.lag_records) {
      const lag = typeof c.lag_records === "number" ? `, ${num(c.lag_records)} records` : "";
      return h("td", { class: "warn" }, `▲ ${c.behind_partitions} behind${lag}`, notes.length ? ` (${notes.join(", ")})` : "");
    }
    if (notes.length) return h("td", { class: "warn" }, `▲ present (${notes.join(", ")})`);
    return h("td", { class: "ok" }, "● in sync");
  }

  async function pageTopic(ctx, name) {
    ctx.setTitle("Topic " + name);
    const holder = h("div", {}, h("p", { class: "muted" }, "loading…"));
    show(ctx, h("p", { class: "crumbs" }, h("a", { href: "#/topics" }, "Topics"), " / ", name),
      h("h1", {}, "Topic ", h("code", {}, name)), holder);
    await every(async () => {
      const r = await api("/api/v1/topics/" + enc(name));
      if (!ctx.alive()) return;
      if (r.status === 404) {
        holder.replaceChildren(message("info", `No cluster has a topic named ${name}.`));
        return;
      }
      if (!r.ok) {
        holder.replaceChildren(message("error", "Could not read the topic: " + r.error));
        return;
      }
      holder.replaceChildren(...topicDetail(r.data));
      applyRole(holder);
    }, PAGE_REFRESH_MS);
  }

  function topicDetail(t) {
    const parts = t.partition_details || [];
    const clusters = [...new Set(parts.flatMap(p => (p.clusters || []).map(c => c.cluster)))].sort();
    const prow = parts.map(p => {
      const by = Object.fromEntries((p.clusters || []).map(c => [c.cluster, c]));
      return h("tr", { "data-partition": p.partition },
        h("th", { scope: "row" }, p.partition),
        h("td", {}, p.read_cluster || "—"),
        clusters.map(id => {
          const c = by[id];
          if (!c) return h("td", { class: "bad" }, "✖ missing");
          const range = `${c.log_start ?? "?"} – ${c.log_end ?? "?"}`;
          return h("td", { class: c.in_sync ? "ok" : "warn" }, range, h("br"), c.in_sync ? "● in sync" : "▲ not in sync");
        }));
    });
    const rules = (t.rules || []).map(r => ruleRow(t.name, r, false));
    const quotas = (t.quotas || []).map(q => h("tr", {},
      h("th", { scope: "row" }, q.entity), h("td", {}, rate(q.produce_byte_rate)), h("td", {}, rate(q.fetch_byte_rate)),
      h("td", {}, q.request_rate ?? "not set"), h("td", {}, q.origin)));
    return [
      h("p", {}, `${t.partitions} partition${t.partitions === 1 ? "" : "s"}. Offsets are each cluster's log start and end.`),
      section("Partitions", table(null, ["Partition", "Read from", ...clusters], prow.length ? prow : emptyRow(2 + clusters.length, "no partitions"), { id: "partitions-table" })),
      section("Rules",
        table(null, ["Id", "Name", "Enabled", ["Priority", "num"], "Hook", "Conditions", "Actions", "Origin"], rules.length ? rules : emptyRow(8, "no rules"), { id: "topic-rules" }),
        h("p", {}, h("a", { href: "#/rules/" + enc(t.name) }, "Manage this topic's rules"))),
      section("Plugins", (t.plugins || []).length
        ? h("ul", {}, t.plugins.map(p => h("li", {}, h("a", { href: "#/plugins" }, p))))
        : h("p", { class: "muted" }, "No plugin runs on this topic.")),
      section("Schema subjects", (t.schema_subjects || []).length
        ? h("ul", {}, t.schema_subjects.map(s => h("li", {}, h("a", { href: "#/schemas/" + enc(s) }, s))))
        : h("p", { class: "muted" }, "No schema subject for this topic.")),
      section("Quotas", table(null, ["Entity", "Produce", "Fetch", "Requests/s", "Origin"], quotas.length ? quotas : emptyRow(5, "no quotas apply"))),
    ];
  }

  // ------------------------------------------------------------------ pages: groups

  // Per partition the largest lag over the clusters, summed; null until lag was sampled.
  function groupLag(g) {
    let total = null;
    for (const o of g.offsets || []) {
      const lags = Object.values(o.lag || {});
      if (lags.length) total = (total || 0) + Math.max(...lags);
    }
    return total;
  }

  async function pageGroups(ctx) {
    if (ctx.args.length) return pageGroup(ctx, ctx.args.join("/"));
    const holder = h("div", {}, h("p", { class: "muted" }, "loading…"));
    show(ctx, h("h1", {}, "Consumer groups"),
      section("Groups the proxy coordinates", holder,
        h("p", { class: "muted" }, "Total lag: per partition the largest lag over the clusters, summed.")));
    await every(async () => {
      const r = await api("/api/v1/groups");
      if (!ctx.alive()) return;
      if (!r.ok) {
        holder.replaceChildren(message("error", "Could not list groups: " + r.error));
        return;
      }
      const rows = (r.data || []).map(g => h("tr", { "data-group": g.group },
        h("th", { scope: "row" }, h("a", { href: "#/groups/" + enc(g.group) }, g.group)),
        h("td", {}, g.state), h("td", { class: "num" }, (g.members || []).length),
        h("td", { class: "num" }, num(groupLag(g))), h("td", { class: "num" }, g.generation),
        h("td", {}, g.coordinator ?? "—")));
      holder.replaceChildren(table(null, ["Group", "State", ["Members", "num"], ["Total lag", "num"], ["Generation", "num"], "Coordinator"],
        rows.length ? rows : emptyRow(6, "no consumer groups"), { id: "groups-table" }));
    }, PAGE_REFRESH_MS);
  }

  async function pageGroup(ctx, name) {
    ctx.setTitle("Group " + name);
    const holder = h("div", {}, h("p", { class: "muted" }, "loading…"));
    show(ctx, h("p", { class: "crumbs" }, h("a", { href: "#/groups" }, "Groups"), " / ", name),
      h("h1", {}, "Group ", h("code", {}, name)), holder);
    await every(async () => {
      const r = await api("/api/v1/groups/" + enc(name));
      if (!ctx.alive()) return;
      if (r.status === 404) {
        holder.replaceChildren(message("info", `The proxy coordinates no group named ${name}.`));
        return;
      }
      if (!r.ok) {
        holder.replaceChildren(message("error", "Could not read the group: " + r.error));
        return;
      }
      const g = r.data;
      const clusters = [...new Set((g.offsets || []).flatMap(o => Object.keys(o.lag || {})).concat(Object.keys(g.mirrored || {})))].sort();
      holder.replaceChildren(
        h("dl", { class: "facts" },
          [["State", g.state], ["Protocol", `${g.protocol_type || "—"} / ${g.protocol || "—"}`], ["Generation", g.generation],
            ["Coordinator", g.coordinator ?? "—"], ["Leader", g.leader || "—"], ["Total lag", groupLag(g) === null ? "not sampled yet" : num(groupLag(g)) + " records"],
            ["Mirrored", clusters.map(c => `${c}: ${(g.mirrored || {})[c] ? "yes" : "no"}`).join(", ") || "—"]]
            .map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, String(v))))),
        section("Members", table(null, ["Member", "Client id", "Host", "Instance id", "Assignment"],
          (g.members || []).map(m => h("tr", {}, h("th", { scope: "row" }, h("code", {}, m.member_id)), h("td", {}, m.client_id),
            h("td", {}, m.client_host), h("td", {}, m.group_instance_id || "—"),
            h("td", {}, Object.entries(m.assignment || {}).map(([t, ps]) => `${t}: ${ps.join(", ")}`).join("; ") || "—"))),
          { id: "members-table" })),
        section("Committed offsets and lag", table(null, ["Topic", ["Partition", "num"], ["Committed", "num"], ...clusters.map(c => ["Lag on " + c, "num"])],
          (g.offsets || []).length ? g.offsets.map(o => h("tr", {}, h("th", { scope: "row" }, o.topic), h("td", { class: "num" }, o.partition),
            h("td", { class: "num" }, o.committed), clusters.map(c => h("td", { class: "num" }, (o.lag || {})[c] ?? "—"))))
            : emptyRow(3 + clusters.length, "no committed offsets"), { id: "offsets-table" })));
    }, PAGE_REFRESH_MS);
  }

  // ------------------------------------------------------------------ pages: instances

  async function pageInstances(ctx) {
    const holder = h("div", {}, h("p", { class: "muted" }, "loading…"));
    show(ctx, h("h1", {}, "Instances"), holder);
    await every(async () => {
      const r = await api("/api/v1/instances");
      if (!ctx.alive()) return;
      if (!r.ok) {
        holder.replaceChildren(message("error", "Could not list instances: " + r.error));
        return;
      }
      const d = r.data || {};
      const rows = (d.instances || []).map(i => h("tr", { "data-node": i.node_id, class: i.me ? "me" : "" },
        h("th", { scope: "row" }, i.node_id), h("td", {}, `${i.host}:${i.port}`), h("td", {}, i.me ? "yes" : "no"),
        h("td", { class: "num" }, i.owned_partitions), h("td", {}, (i.owned_groups || []).join(", ") || "—")));
      holder.replaceChildren(
        d.split_brain ? message("error", "Split brain: instances disagree about who owns what. Check the network between them and the clusters.") : null,
        h("p", {}, `This is instance ${d.me}. Scale-out is ${d.scale_out ? "on: instances share partitions and groups" : "off: this instance serves everything"}.`),
        table(null, ["Node id", "Address", "This instance", ["Owned partitions", "num"], "Owned groups"], rows.length ? rows : emptyRow(5, "no instances"), { id: "instances-table" }));
    }, PAGE_REFRESH_MS);
  }

  // ------------------------------------------------------------------ pages: rules

  const RULE_TOPICS_KEY = "kafkatwin-rule-topics";

  function rememberTopic(topic) {
    const known = JSON.parse(sessionStorage.getItem(RULE_TOPICS_KEY) || "[]");
    if (!known.includes(topic)) {
      known.push(topic);
      sessionStorage.setItem(RULE_TOPICS_KEY, JSON.stringify(known.slice(-50)));
    }
  }

  function describe(x) {
    if (!x || typeof x !== "object") return String(x);
    const { type, ...rest } = x;
    const args = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
    return `${type}(${args.join(", ")})`;
  }

  function ruleRow(topic, view, controls, onEdit, onDelete) {
    const r = view.rule || {};
    const fromApi = view.origin === "api";
    return h("tr", { "data-rule": r.id },
      h("th", { scope: "row" }, h("code", {}, r.id)),
      h("td", {}, r.name || "—"),
      h("td", {}, r.enabled === false ? "no" : "yes"),
      h("td", { class: "num" }, r.priority ?? 0),
      h("td", {}, r.hook || "on_produce"),
      h("td", {}, (r.conditions || []).map(describe).join("; ") || "always"),
      h("td", {}, (r.actions || []).map(describe).join("; ")),
      h("td", {}, view.origin),
      controls ? h("td", { class: "actions" }, fromApi
        ? [h("button", { type: "button", "data-change": "", onclick: () => onEdit(r) }, "Edit"),
          h("button", { type: "button", class: "danger", "data-change": "", onclick: () => onDelete(r) }, "Delete")]
        : h("span", { class: "muted" }, "set in the config file")) : null);
  }

  async function pageRules(ctx) {
    const topic = ctx.args.join("/");
    const topicInput = h("input", { id: "rules-topic", name: "topic", list: "topic-names", value: topic, required: true, autocomplete: "off" });
    const datalist = h("datalist", { id: "topic-names" });
    const topicLinks = h("p", { class: "topic-links" });
    const chooser = h("form", { class: "inline", id: "rules-topic-form", onsubmit: e => {
      e.preventDefault();
      const t = topicInput.value.trim();
      if (t) location.hash = "#/rules/" + enc(t);
    } }, field("Topic", topicInput), datalist, h("button", { type: "submit" }, "Show rules"));
    const holder = h("div");
    show(ctx, h("h1", {}, "Transformation rules"),
      section("Choose a topic", chooser, topicLinks), holder);
    api("/api/v1/topics").then(r => {
      if (!ctx.alive() || !r.ok) return;
      const names = (r.data || []).map(t => t.name).sort();
      datalist.replaceChildren(...names.map(n => h("option", { value: n })));
      const shown = names.slice(0, 60); // the rest through the topic box and its suggestions
      topicLinks.replaceChildren(names.length ? "Topics: " : "", ...shown.flatMap((n, i) =>
        [i ? ", " : "", h("a", { href: "#/rules/" + enc(n), "aria-current": n === topic ? "page" : null }, n)]),
        names.length > shown.length ? ` and ${names.length - shown.length} more` : "");
    });
    if (!topic) {
      holder.replaceChildren(h("p", { class: "muted" }, "Choose a topic to see and change its rules."));
      return;
    }
    ctx.setTitle("Rules of " + topic);
    rememberTopic(topic);
    let etag = null;
    const list = h("div", {}, h("p", { class: "muted" }, "loading…"));
    const editor = ruleEditor(topic, async () => { await load(); });
    const load = async () => {
      const r = await api("/api/v1/transformations/" + enc(topic));
      if (!ctx.alive()) return;
      if (!r.ok && r.status !== 404) {
        list.replaceChildren(message("error", "Could not read the rules: " + r.error));
        return;
      }
      // 404: the topic has no rules (yet).
      etag = r.ok ? r.headers.get("ETag") : null;
      editor.setEtag(etag);
      const views = r.ok && Array.isArray(r.data) ? r.data : [];
      const rows = views.map(v => ruleRow(topic, v, true, rule => editor.edit(rule), async rule => {
        if (!window.confirm(`Delete rule ${rule.id} of ${topic}?`)) return;
        const d = await api(`/api/v1/transformations/${enc(topic)}/${enc(rule.id)}`,
          { method: "DELETE", headers: etag ? { "If-Match": etag } : {} });
        editor.status(d.ok ? message("ok", `Rule ${rule.id} deleted.`) : message("error", `Could not delete ${rule.id}: ${d.error}`));
        await load();
      }));
      list.replaceChildren(table(null, ["Id", "Name", "Enabled", ["Priority", "num"], "Hook", "Conditions", "Actions", "Origin", "Change"],
        rows.length ? rows : emptyRow(9, "no rules"), { id: "rules-table" }));
      applyRole(list);
    };
    holder.replaceChildren(section("Rules of " + topic, list), editor.el);
    applyRole(holder);
    await load();
  }

  const ACTION_TYPES = ["mask_field", "set_field", "remove_field", "rename_field", "set_header", "uppercase_field", "lowercase_field", "wasm", "validate_schema"];
  const CONDITION_TYPES = ["", "field_exists", "field_equals", "field_matches", "header_exists", "header_equals", "key_matches"];

  // The rule form: simple fields for one condition and one action, and the rule's JSON, which
  // is what is sent. Editing the fields rewrites the parts of the JSON they stand for (further
  // conditions and actions are kept); editing the JSON fills the fields.
  function ruleEditor(topic, reload) {
    let editing = null;
    let etag = null;
    const $ = {};
    const input = (name, props) => ($[name] = h("input", Object.assign({ id: "rule-" + name, name }, props || {})));
    const select = (name, options, props) => ($[name] = h("select", Object.assign({ id: "rule-" + name, name }, props || {}),
      options.map(o => h("option", { value: o }, o || "(none)"))));
    input("id", { required: true, pattern: "[A-Za-z0-9._-]+", placeholder: "mask-pii" });
    input("name", { placeholder: "Mask PII" });
    input("enabled", { type: "checkbox", checked: true });
    input("priority", { type: "number", value: "0", step: "1" });
    select("hook", ["on_produce", "on_fetch"]);
    select("condition", CONDITION_TYPES);
    input("condition-field", { placeholder: "ssn" });
    input("condition-value", { placeholder: "JSON value or pattern" });
    select("action", ACTION_TYPES);
    input("action-field", { placeholder: "ssn or $.items[*].card" });
    input("action-value", { placeholder: "value, new name or header value" });
    select("mode", ["full", "keep_last", "hash"]);
    input("keep-last", { type: "number", value: "4", min: "0" });
    $.plugin = h("input", { id: "rule-plugin", name: "plugin", list: "plugin-names" });
    const pluginNames = h("datalist", { id: "plugin-names" });
    $.json = h("textarea", { id: "rule-json", name: "rule", rows: 12, spellcheck: "false", class: "code" });
    const errors = h("div", { class: "form-errors", "aria-live": "polite" });
    const statusEl = h("div", { class: "form-status", "aria-live": "polite" });
    const title = h("h2", { id: "rule-editor-title" }, "Add a rule");
    const submit = h("button", { type: "submit", class: "primary" }, "Add rule");
    const cancel = h("button", { type: "button", hidden: true, onclick: () => reset() }, "Cancel edit");

    const wrap = (name, label, hint) => h("div", { class: "field", "data-for": name }, h("label", { for: $[name].id }, label), $[name], hint ? h("small", { class: "hint" }, hint) : null);
    const form = h("form", { id: "rule-form", "data-change": "", novalidate: true, "aria-labelledby": "rule-editor-title" },
      h("div", { class: "grid" },
        wrap("id", "Rule id"), wrap("name", "Name"), wrap("priority", "Priority", "lower runs first"), wrap("hook", "Hook"),
        h("div", { class: "field check", "data-for": "enabled" }, $.enabled, h("label", { for: $.enabled.id }, "Enabled"))),
      h("fieldset", {}, h("legend", {}, "Condition (first)"),
        h("div", { class: "grid" }, wrap("condition", "Type"), wrap("condition-field", "Field, header or key pattern"), wrap("condition-value", "Value or pattern"))),
      h("fieldset", {}, h("legend", {}, "Action (first)"),
        h("div", { class: "grid" }, wrap("action", "Type"), wrap("action-field", "Field (or header)"), wrap("action-value", "Value / new name"),
          wrap("mode", "Mask mode"), wrap("keep-last", "Keep last"), wrap("plugin", "Plugin"), pluginNames)),
      wrap("json", "Rule JSON (sent as is; more conditions and actions can be added here)"),
      errors,
      h("div", { class: "buttons" }, submit, cancel),
      statusEl);

    const showFor = () => {
      const a = $.action.value;
      const vis = {
        "action-field": !["wasm", "validate_schema"].includes(a),
        "action-value": ["set_field", "rename_field", "set_header"].includes(a),
        mode: a === "mask_field",
        "keep-last": a === "mask_field" && $.mode.value === "keep_last",
        plugin: a === "wasm",
      };
      for (const [k, v] of Object.entries(vis)) form.querySelector(`[data-for="${k}"]`).hidden = !v;
      const c = $.condition.value;
      form.querySelector('[data-for="condition-field"]').hidden = !c;
      form.querySelector('[data-for="condition-value"]').hidden = !["field_equals", "field_matches", "header_equals"].includes(c);
    };

    const jsonValue = text => {
      try { return JSON.parse(text); } catch (_) { return text; }
    };

    const fromFields = () => {
      let base = parseJson($.json.value);
      if (!base || typeof base !== "object" || Array.isArray(base)) base = {};
      base.id = $.id.value.trim();
      if ($.name.value.trim()) base.name = $.name.value.trim(); else delete base.name;
      base.enabled = $.enabled.checked;
      base.priority = Number($.priority.value || 0);
      if ($.hook.value !== "on_produce") base.hook = $.hook.value; else delete base.hook;
      const c = $.condition.value;
      let cond = null;
      if (c) {
        cond = { type: c };
        const f = $["condition-field"].value.trim();
        if (c === "key_matches") cond.pattern = f;
        else if (c.startsWith("header_")) cond.header = f;
        else cond.field = f;
        const v = $["condition-value"].value;
        if (c === "field_matches") cond.pattern = v;
        if (c === "field_equals") cond.value = jsonValue(v);
        if (c === "header_equals") cond.value = v;
      }
      base.conditions = [cond, ...(base.conditions || []).slice(1)].filter(Boolean);
      const a = $.action.value;
      const act = { type: a };
      const f = $["action-field"].value.trim();
      const v = $["action-value"].value;
      if (a === "wasm") {
        act.plugin = $.plugin.value.trim();
      } else if (a !== "validate_schema") {
        act.field = f;
      }
      if (a === "set_field") act.value = jsonValue(v);
      if (a === "set_header") act.value = v;
      if (a === "rename_field") act.to = v;
      if (a === "mask_field" && $.mode.value !== "full") {
        act.mode = $.mode.value;
        if ($.mode.value === "keep_last") act.keep_last = Number($["keep-last"].value || 4);
      }
      base.actions = [act, ...(base.actions || []).slice(1)];
      if (!base.conditions.length) delete base.conditions;
      $.json.value = JSON.stringify(base, null, 2);
    };

    const toFields = rule => {
      if (!rule || typeof rule !== "object") return;
      $.id.value = rule.id || "";
      $.name.value = rule.name || "";
      $.enabled.checked = rule.enabled !== false;
      $.priority.value = rule.priority ?? 0;
      $.hook.value = rule.hook || "on_produce";
      const c = (rule.conditions || [])[0];
      $.condition.value = c && CONDITION_TYPES.includes(c.type) ? c.type : "";
      $["condition-field"].value = c ? (c.type === "key_matches" ? c.pattern : c.field || c.header || "") || "" : "";
      $["condition-value"].value = c ? (c.type === "field_matches" ? c.pattern || "" : c.value === undefined ? "" : typeof c.value === "string" ? c.value : JSON.stringify(c.value)) : "";
      const a = (rule.actions || [])[0] || {};
      $.action.value = ACTION_TYPES.includes(a.type) ? a.type : "mask_field";
      $["action-field"].value = a.field || a.header || "";
      $["action-value"].value = a.type === "rename_field" ? a.to || "" : a.value === undefined ? "" : typeof a.value === "string" ? a.value : JSON.stringify(a.value);
      $.mode.value = a.mode || "full";
      $["keep-last"].value = a.keep_last ?? 4;
      $.plugin.value = a.plugin || "";
      showFor();
    };

    const clearErrors = () => {
      errors.replaceChildren();
      for (const el of form.querySelectorAll(".field-error")) el.remove();
      for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    };

    // Puts the API's message next to the control that stands for the field it names (the JSON
    // box when no simple control does).
    const fieldError = (fieldName, text) => {
      const map = { id: "id", name: "name", enabled: "enabled", priority: "priority", hook: "hook",
        "conditions[0].type": "condition", "conditions[0].field": "condition-field", "conditions[0].header": "condition-field",
        "conditions[0].pattern": "condition-field", "conditions[0].value": "condition-value",
        "actions[0].type": "action", "actions[0].field": "action-field", "actions[0].value": "action-value",
        "actions[0].to": "action-value", "actions[0].mode": "mode", "actions[0].keep_last": "keep-last", "actions[0].plugin": "plugin" };
      let target = $[map[fieldName]] || $.json;
      if (target.closest("[hidden]")) target = $.json;
      const id = target.id + "-error";
      const p = h("p", { class: "field-error", id, role: "alert", "data-field": fieldName || "" },
        fieldName ? h("strong", {}, fieldName + ": ") : null, text);
      target.setAttribute("aria-invalid", "true");
      target.setAttribute("aria-describedby", id);
      target.closest(".field").append(p);
    };

    const reset = () => {
      editing = null;
      title.textContent = "Add a rule";
      submit.textContent = "Add rule";
      cancel.hidden = true;
      $.id.disabled = false;
      clearErrors();
      toFields({ id: "", enabled: true, priority: 0, actions: [{ type: "mask_field", field: "" }] });
      $.json.value = "";
      fromFields();
    };

    form.addEventListener("input", e => {
      if (e.target === $.json) {
        const r = parseJson($.json.value);
        if (r) toFields(r);
        return;
      }
      showFor();
      fromFields();
    });
    form.addEventListener("change", e => {
      if (e.target !== $.json) { showFor(); fromFields(); }
    });
    form.addEventListener("submit", async e => {
      e.preventDefault();
      clearErrors();
      statusEl.replaceChildren();
      let rule;
      try {
        rule = JSON.parse($.json.value);
      } catch (err) {
        fieldError("rule", "not valid JSON: " + err.message);
        return;
      }
      const path = editing ? `/api/v1/transformations/${enc(topic)}/${enc(editing)}` : `/api/v1/transformations/${enc(topic)}`;
      submit.disabled = true;
      const r = await api(path, { method: editing ? "PUT" : "POST", json: rule, headers: etag ? { "If-Match": etag } : {} });
      submit.disabled = false;
      if (r.ok) {
        const what = editing ? "saved" : "added";
        reset();
        statusEl.replaceChildren(message("ok", `Rule ${rule.id} ${what}. It applies to the next records of ${topic}.`));
        await reload();
        return;
      }
      if (r.status === 412) {
        errors.replaceChildren(message("error", "The rules changed since this page read them: they were read again; check and save once more."));
        await reload();
        return;
      }
      // A 400 without a field (the body did not parse as a rule) is shown at the JSON box.
      if (r.field || r.status === 400) fieldError(r.field || "rule", r.error);
      errors.replaceChildren(message("error", `Not saved (HTTP ${r.status}): ${r.error}`));
    });

    api("/api/v1/plugins").then(r => {
      if (r.ok && Array.isArray(r.data)) pluginNames.replaceChildren(...r.data.map(p => h("option", { value: p.name })));
    });

    reset();
    const el = h("section", { class: "card", "aria-labelledby": "rule-editor-title", "data-change": "" }, title, form);
    return {
      el,
      setEtag: v => { etag = v; },
      status: node => statusEl.replaceChildren(node),
      edit: rule => {
        clearErrors();
        editing = rule.id;
        title.textContent = "Edit rule " + rule.id;
        submit.textContent = "Save rule";
        cancel.hidden = false;
        $.json.value = JSON.stringify(rule, null, 2);
        toFields(rule);
        $.id.disabled = true; // the id names the rule being replaced
        el.scrollIntoView({ behavior: "smooth", block: "start" });
        $.name.focus();
      },
    };
  }

  // ------------------------------------------------------------------ pages: plugins

  async function bindings() {
    // Which rules bind which plugin: the rules of every known topic (and of topics this session
    // looked at on the rules page), read a few at a time.
    const t = await api("/api/v1/topics");
    const topics = new Set(t.ok && Array.isArray(t.data) ? t.data.map(x => x.name) : []);
    for (const x of JSON.parse(sessionStorage.getItem(RULE_TOPICS_KEY) || "[]")) topics.add(x);
    const out = {};
    const queue = [...topics];
    const worker = async () => {
      while (queue.length) {
        const topic = queue.shift();
        const r = await api("/api/v1/transformations/" + enc(topic));
        if (!r.ok || !Array.isArray(r.data)) continue;
        for (const v of r.data) {
          for (const a of (v.rule && v.rule.actions) || []) {
            if (a.type === "wasm" && a.plugin) (out[a.plugin] = out[a.plugin] || []).push(`${topic}/${v.rule.id}`);
          }
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    return out;
  }

  async function pagePlugins(ctx) {
    const nameInput = h("input", { id: "plugin-name", name: "name", required: true, pattern: "[A-Za-z0-9._-]+", placeholder: "redact" });
    const fileInput = h("input", { id: "plugin-file", name: "module", type: "file", accept: ".wasm,application/wasm", required: true });
    const force = h("input", { id: "plugin-force", type: "checkbox" });
    const uploadStatus = h("div", { "aria-live": "polite" });
    const listStatus = h("div", { "aria-live": "polite" });
    const list = h("div", {}, h("p", { class: "muted" }, "loading…"));
    fileInput.addEventListener("change", () => {
      const f = fileInput.files[0];
      if (f && !nameInput.value) nameInput.value = f.name.replace(/\.wasm$/i, "").replace(/_/g, "-");
    });
    const form = h("form", { id: "plugin-form", "data-change": "", novalidate: true, onsubmit: async e => {
      e.preventDefault();
      uploadStatus.replaceChildren();
      for (const el of form.querySelectorAll(".field-error")) el.remove();
      const name = nameInput.value.trim();
      const file = fileInput.files[0];
      if (!name || !file) {
        const target = !name ? nameInput : fileInput;
        target.closest(".field").append(h("p", { class: "field-error", role: "alert" }, !name ? "name: a plugin needs a name" : "module: choose a .wasm file"));
        return;
      }
      const r = await api("/api/v1/plugins/" + enc(name), { method: "PUT", body: file, headers: { "Content-Type": "application/wasm" } });
      if (r.ok) {
        const p = r.data || {};
        uploadStatus.replaceChildren(message("ok", `Uploaded ${name}: version ${p.version ?? "?"}, hooks ${(p.hooks || []).join(", ") || "none"}.`));
        form.reset();
        await load();
      } else {
        uploadStatus.replaceChildren(message("error", `Upload refused (HTTP ${r.status}): ${r.error}`));
      }
    } },
    h("div", { class: "grid" }, field("Plugin name", nameInput), field("WebAssembly component (.wasm)", fileInput, "built for wasm32-wasip2 with plugin-sdk")),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Upload")), uploadStatus);

    const load = async () => {
      const [r, binds] = await Promise.all([api("/api/v1/plugins"), bindings()]);
      if (!ctx.alive()) return;
      if (!r.ok) {
        list.replaceChildren(message("error", "Could not list plugins: " + r.error));
        return;
      }
      const rows = (r.data || []).map(p => h("tr", { "data-plugin": p.name },
        h("th", { scope: "row" }, p.name), h("td", { class: "num" }, p.version),
        h("td", {}, h("code", { title: p.sha256 }, (p.sha256 || "").slice(0, 12) + "…")),
        h("td", {}, (p.hooks || []).join(", ") || "—"), h("td", { class: "num" }, bytes(p.size)),
        h("td", {}, (binds[p.name] || []).length ? binds[p.name].map((b, i) => [i ? ", " : "", h("a", { href: "#/rules/" + enc(b.split("/")[0]) }, b)]) : "none found"),
        h("td", { class: "actions" }, h("button", { type: "button", class: "danger", "data-change": "", onclick: async () => {
          const forced = force.checked;
          if (!window.confirm(`Delete plugin ${p.name}${forced ? " even if rules bind it" : ""}?`)) return;
          const d = await api(`/api/v1/plugins/${enc(p.name)}${forced ? "?force=true" : ""}`, { method: "DELETE" });
          listStatus.replaceChildren(d.ok ? message("ok", `Plugin ${p.name} deleted.`)
            : message("error", d.status === 409 ? `${p.name} is bound by a rule: ${d.error}. Tick "force" to delete it anyway.` : `Could not delete ${p.name}: ${d.error}`));
          await load();
        } }, "Delete"))));
      list.replaceChildren(table(null, ["Name", ["Version", "num"], "SHA-256", "Hooks", ["Size", "num"], "Bound by (topic/rule)", "Change"],
        rows.length ? rows : emptyRow(7, "no plugins uploaded"), { id: "plugins-table" }));
      applyRole(list);
    };
    show(ctx, h("h1", {}, "Plugins"),
      section("Uploaded plugins", list,
        h("div", { class: "field check", "data-change": "" }, force, h("label", { for: force.id }, "Force: delete even while rules bind the plugin")),
        listStatus),
      h("section", { class: "card", "aria-labelledby": "plugin-upload-title", "data-change": "" }, h("h2", { id: "plugin-upload-title" }, "Upload a plugin"), form));
    await load();
  }

  // ------------------------------------------------------------------ pages: schemas

  async function pageSchemas(ctx) {
    const subject = ctx.args[0] || "";
    const version = ctx.args[1] || "";
    const subjects = h("div", {}, h("p", { class: "muted" }, "loading…"));
    const view = h("div");
    const subjInput = h("input", { id: "schema-subject", name: "subject", required: true, value: subject, placeholder: "orders-value" });
    const typeSel = h("select", { id: "schema-type", name: "schemaType" }, ["AVRO", "JSON", "PROTOBUF"].map(t => h("option", { value: t }, t)));
    const text = h("textarea", { id: "schema-text", name: "schema", rows: 10, spellcheck: "false", class: "code", required: true });
    const out = h("div", { "aria-live": "polite" });
    const form = h("form", { id: "schema-form", "data-change": "", novalidate: true, onsubmit: async e => {
      e.preventDefault();
      out.replaceChildren();
      for (const el of form.querySelectorAll(".field-error")) el.remove();
      const s = subjInput.value.trim();
      if (!s) {
        subjInput.closest(".field").append(h("p", { class: "field-error", role: "alert" }, "subject: a subject is needed"));
        return;
      }
      const r = await api("/api/v1/schemas/subjects/" + enc(s), { method: "POST", json: { schema: text.value, schemaType: typeSel.value } });
      if (r.ok) {
        const d = r.data || {};
        out.replaceChildren(message("ok", `Registered in ${s}: ${d.version !== undefined ? "version " + d.version + ", " : ""}id ${d.id}.`));
        if (s !== subject) location.hash = "#/schemas/" + enc(s);
        else await loadSubject();
        return;
      }
      // 409 (breaks the subject's compatibility) and 422 (does not parse) explain themselves.
      const target = { subject: subjInput, schemaType: typeSel }[r.field] || text;
      target.closest(".field").append(h("p", { class: "field-error", role: "alert", "data-field": r.field || "schema" },
        h("strong", {}, (r.field || "schema") + ": "), r.error));
      out.replaceChildren(message("error", r.status === 409 ? `Incompatible with ${s} (HTTP 409).` : `Refused (HTTP ${r.status}).`));
    } },
    h("div", { class: "grid" }, field("Subject", subjInput), field("Type", typeSel)),
    field("Schema", text),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Register")), out);

    const loadSubject = async () => {
      if (!subject) {
        view.replaceChildren(h("p", { class: "muted" }, "Choose a subject to see its versions."));
        return;
      }
      const v = await api(`/api/v1/schemas/subjects/${enc(subject)}/versions`);
      if (!ctx.alive()) return;
      let versions = v.ok && Array.isArray(v.data) ? v.data : null;
      const which = version || "latest";
      const s = await api(`/api/v1/schemas/subjects/${enc(subject)}/versions/${enc(which)}`);
      if (!ctx.alive()) return;
      if (!s.ok) {
        view.replaceChildren(message(s.status === 404 ? "info" : "error", s.status === 404 ? `${subject} has no version ${which}.` : "Could not read the schema: " + s.error));
        return;
      }
      const d = s.data || {};
      if (!versions) versions = [d.version]; // the versions list is not served: show the latest
      let body = d.schema || "";
      const pretty = parseJson(body);
      if (pretty && typeof pretty === "object") body = JSON.stringify(pretty, null, 2);
      view.replaceChildren(
        h("h3", {}, subject),
        h("nav", { "aria-label": "Versions of " + subject, class: "versions" }, "Versions: ",
          versions.map((n, i) => [i ? " " : "", h("a", { href: `#/schemas/${enc(subject)}/${n}`, "aria-current": n === d.version ? "page" : null }, String(n))])),
        h("dl", { class: "facts" },
          [["Version", d.version], ["Schema id", d.id], ["Type", d.schemaType || "AVRO"]].map(([k, x]) => h("div", {}, h("dt", {}, k), h("dd", {}, String(x))))),
        h("pre", { class: "schema", id: "schema-view", tabindex: "0", "aria-label": `Schema of ${subject} version ${d.version}` }, body));
      if (!text.value) {
        typeSel.value = d.schemaType || "AVRO";
      }
    };

    show(ctx, h("h1", {}, "Schemas"),
      h("div", { class: "split" },
        section("Subjects", subjects),
        h("section", { class: "card", "aria-labelledby": "schema-view-title" }, h("h2", { id: "schema-view-title" }, "Schema"), view)),
      h("section", { class: "card", "aria-labelledby": "schema-register-title", "data-change": "" }, h("h2", { id: "schema-register-title" }, "Register a schema"), form));
    const r = await api("/api/v1/schemas/subjects");
    if (!ctx.alive()) return;
    if (!r.ok) {
      subjects.replaceChildren(message(r.status === 404 ? "info" : "error", r.status === 404 ? "The schema registry is not enabled." : "Could not list subjects: " + r.error));
    } else {
      const names = (r.data || []).slice().sort();
      subjects.replaceChildren(names.length
        ? h("ul", { id: "subjects", class: "plain" }, names.map(n => h("li", {}, h("a", { href: "#/schemas/" + enc(n), "aria-current": n === subject ? "page" : null }, n))))
        : h("p", { class: "muted" }, "No subjects yet."));
    }
    await loadSubject();
  }

  // ------------------------------------------------------------------ pages: quotas

  async function pageQuotas(ctx) {
    const list = h("div", {}, h("p", { class: "muted" }, "loading…"));
    const current = h("div", { id: "quota-current", "aria-live": "polite" });
    const out = h("div", { "aria-live": "polite" });
    const inputs = {
      client: h("input", { id: "quota-client", name: "client_id", required: true, placeholder: "batch-loader" }),
      produce_byte_rate: h("input", { id: "quota-produce", name: "produce_byte_rate", type: "number", min: "1", step: "1", placeholder: "not set" }),
      fetch_byte_rate: h("input", { id: "quota-fetch", name: "fetch_byte_rate", type: "number", min: "1", step: "1", placeholder: "not set" }),
      request_rate: h("input", { id: "quota-requests", name: "request_rate", type: "number", min: "1", step: "1", placeholder: "not set" }),
    };
    const lookup = h("input", { id: "quota-lookup", name: "lookup", placeholder: "client id" });

    const showCurrent = async clientId => {
      current.replaceChildren(h("p", { class: "muted" }, `reading ${clientId}…`));
      const r = await api("/api/v1/quotas/" + enc(clientId));
      if (!ctx.alive()) return;
      if (r.status === 404) {
        current.replaceChildren(message("info", `No quota applies to client id ${clientId}.`));
        return;
      }
      if (!r.ok) {
        current.replaceChildren(message("error", `Could not read ${clientId}: ${r.error}`));
        return;
      }
      const q = r.data || {};
      const cur = q.current || {};
      const fmt = (k, v) => (k === "request_rate" ? num(v) + "/s" : bytes(v) + "/s");
      const rows = ["produce_byte_rate", "fetch_byte_rate", "request_rate"].map(k => h("tr", {},
        h("th", { scope: "row" }, k), h("td", {}, q[k] === null || q[k] === undefined ? "not set" : fmt(k, q[k])),
        h("td", {}, cur[k] === undefined ? "—" : fmt(k, cur[k])),
        h("td", {}, q[k] && cur[k] !== undefined ? Math.round((100 * cur[k]) / q[k]) + "%" : "—")));
      current.replaceChildren(h("h3", {}, `Client id ${clientId}: ${q.entity} (${q.origin})`),
        table(null, ["Limit", "Quota", "Now (this instance)", "Share"], rows, { id: "quota-current-table" }));
    };

    const load = async () => {
      const r = await api("/api/v1/quotas");
      if (!ctx.alive()) return;
      if (!r.ok) {
        list.replaceChildren(message("error", "Could not list quotas: " + r.error));
        return;
      }
      const rows = (r.data || []).map(q => h("tr", { "data-entity": q.entity },
        h("th", { scope: "row" }, q.entity),
        h("td", {}, rate(q.produce_byte_rate)), h("td", {}, rate(q.fetch_byte_rate)),
        h("td", {}, q.request_rate === null || q.request_rate === undefined ? "not set" : num(q.request_rate) + "/s"),
        h("td", {}, q.origin), h("td", { class: "num" }, q.version ?? "—"),
        h("td", { class: "actions" },
          q.client_id && !q.user ? h("button", { type: "button", onclick: () => showCurrent(q.client_id) }, "Current rate") : null,
          q.client_id && !q.user ? h("button", { type: "button", "data-change": "", onclick: () => {
            inputs.client.value = q.client_id;
            for (const k of ["produce_byte_rate", "fetch_byte_rate", "request_rate"]) inputs[k].value = q[k] ?? "";
            inputs.client.focus();
          } }, "Edit") : null,
          q.origin === "api" && q.client_id ? h("button", { type: "button", class: "danger", "data-change": "", onclick: async () => {
            if (!window.confirm(`Delete the quota of ${q.client_id}?`)) return;
            const d = await api("/api/v1/quotas/" + enc(q.client_id), { method: "DELETE" });
            out.replaceChildren(d.ok ? message("ok", `Quota of ${q.client_id} deleted.`) : message("error", `Could not delete: ${d.error}`));
            await load();
          } }, "Delete") : null)));
      list.replaceChildren(table(null, ["Entity", "Produce", "Fetch", "Requests", "Origin", ["Version", "num"], "Actions"],
        rows.length ? rows : emptyRow(7, "no quotas"), { id: "quotas-table" }));
      applyRole(list);
    };

    const form = h("form", { id: "quota-form", "data-change": "", novalidate: true, onsubmit: async e => {
      e.preventDefault();
      out.replaceChildren();
      for (const el of form.querySelectorAll(".field-error")) el.remove();
      const clientId = inputs.client.value.trim();
      if (!clientId) {
        inputs.client.closest(".field").append(h("p", { class: "field-error", role: "alert" }, "client_id: a client id is needed"));
        return;
      }
      const body = {};
      for (const k of ["produce_byte_rate", "fetch_byte_rate", "request_rate"]) {
        const v = inputs[k].value.trim();
        if (v !== "") body[k] = Number(v);
      }
      const r = await api("/api/v1/quotas/" + enc(clientId), { method: "PUT", json: body });
      if (r.ok) {
        out.replaceChildren(message("ok", `Quota of ${clientId} ${r.status === 201 ? "set" : "replaced"}.`));
        await load();
        return;
      }
      const target = inputs[r.field] || inputs.client;
      target.closest(".field").append(h("p", { class: "field-error", role: "alert", "data-field": r.field || "" },
        r.field ? h("strong", {}, r.field + ": ") : null, r.error));
      out.replaceChildren(message("error", `Not saved (HTTP ${r.status}): ${r.error}`));
    } },
    h("div", { class: "grid" },
      field("Client id", inputs.client), field("Produce bytes/s", inputs.produce_byte_rate),
      field("Fetch bytes/s", inputs.fetch_byte_rate), field("Requests/s", inputs.request_rate)),
    h("p", { class: "hint" }, "Leave a limit empty to not set it; at least one is needed."),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Save quota")), out);

    show(ctx, h("h1", {}, "Quotas"),
      section("Client quotas", list),
      section("Current rate of a client",
        h("form", { class: "inline", id: "quota-lookup-form", onsubmit: e => {
          e.preventDefault();
          if (lookup.value.trim()) showCurrent(lookup.value.trim());
        } }, field("Client id", lookup), h("button", { type: "submit" }, "Show")),
        current),
      h("section", { class: "card", "aria-labelledby": "quota-set-title", "data-change": "" }, h("h2", { id: "quota-set-title" }, "Set a client quota"), form));
    await every(load, PAGE_REFRESH_MS * 2);
  }

  // ------------------------------------------------------------------ start

  function renderWho() {
    const el = document.getElementById("who");
    const me = state.me;
    const parts = [];
    if (me) parts.push(h("span", {}, `${me.who} · ${me.role}`));
    if (!state.canChange) parts.push(h("span", { class: "badge readonly-badge" }, "read-only"));
    if (state.tokenDeclined || state.needToken) {
      parts.push(h("button", { type: "button", class: "link", onclick: () => {
        state.tokenDeclined = false;
        sessionStorage.removeItem(TOKEN_KEY);
        start();
      } }, "Enter token"));
    }
    el.replaceChildren(...parts);
  }

  async function loadMe() {
    const r = await api("/api/v1/me");
    state.needToken = r.status === 401;
    if (r.ok && r.data) {
      state.me = r.data;
      state.canChange = r.data.can_change !== false;
    } else if (r.status === 401) {
      state.me = null;
      state.canChange = false;
    }
    renderWho();
  }

  async function start() {
    await loadMe();
    connectEvents();
    const hist = await api("/api/v1/metrics/history");
    if (hist.ok && Array.isArray(hist.data)) addSamples(hist.data);
    route();
  }

  window.addEventListener("hashchange", route);
  if (!location.hash) history.replaceState(null, "", "#/overview");
  start();
})();
