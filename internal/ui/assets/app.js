// wisp dashboard: plain JavaScript, no framework, no build step. The
// wisp ui process holds the NATS connection; this page only reads
// /api/stream (server-sent events) and posts actions to /api/*.
"use strict";

const token = document.querySelector('meta[name="wisp-token"]').content;
const views = ["hosts", "actors", "providers", "apps", "events", "topology"];
const state = {
  snap: null,
  events: [],
  paused: false,
  groupBy: localStorage.getItem("wisp.groupBy"),
  loadedAt: null,
};
const maxEvents = 500;

// h builds an element: h("td", {class: "num", "data-label": "Calls"}, "12").
// Text is always set as text, never parsed as HTML.
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "onclick") el.addEventListener("click", v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === undefined || kid === null || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

function $(id) { return document.getElementById(id); }

// table builds a table from column specs {label, cell(row) -> Node|string, num}.
function table(cols, rows, empty, caption) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  const t = h("table", {},
    caption ? h("caption", { class: "note" }, caption) : null,
    h("thead", {}, h("tr", {}, cols.map(c => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)))),
    h("tbody", {}, rows.map(r => h("tr", { "data-key": cols.key ? cols.key(r) : null },
      cols.map(c => h("td", { class: c.num ? "num" : null, "data-label": c.label }, h("div", {}, c.cell(r))))))));
  return h("div", { class: "table-wrap" }, t);
}

function badge(text) {
  const kind = /^(ok|healthy|applied|deployed)$/.test(text) ? "ok"
    : /^(reconciling|no provider|undeployed|asleep)/.test(text) ? "warn" : "bad";
  return h("span", { class: "badge " + kind }, text);
}

function userLabels(labels) {
  return Object.entries(labels || {})
    .filter(([k]) => !k.startsWith("wisp.") && !k.startsWith("hostcore."))
    .sort(([a], [b]) => a.localeCompare(b));
}

function duration(sec) {
  sec = Math.max(0, Math.floor(sec));
  const d = Math.floor(sec / 86400), hr = Math.floor(sec / 3600) % 24, m = Math.floor(sec / 60) % 60, s = sec % 60;
  if (d) return `${d}d ${hr}h`;
  if (hr) return `${hr}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

function since(t) { return duration((Date.now() - Date.parse(t)) / 1000); }
function rate(x) { return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2); }
function short(id) { return id ? id.slice(0, 8) : ""; }
function hostName(id) {
  const host = state.snap && state.snap.hosts.find(x => x.id === id);
  return host ? host.name : short(id);
}

// ---- views ----------------------------------------------------------

function renderHosts() {
  const s = state.snap;
  const keys = new Set();
  s.hosts.forEach(x => userLabels(x.labels).forEach(([k]) => keys.add(k)));
  const sel = $("group-by");
  if (state.groupBy === null) state.groupBy = ["site", "tier", "zone"].find(k => keys.has(k)) || "";
  const want = ["", ...[...keys].sort()];
  if ([...sel.options].map(o => o.value).join("\n") !== want.join("\n")) {
    sel.replaceChildren(...want.map(k => h("option", { value: k }, k || "nothing")));
  }
  sel.value = keys.has(state.groupBy) ? state.groupBy : "";
  const by = sel.value;
  const groups = new Map();
  for (const x of s.hosts) {
    const g = by ? (x.labels[by] || `no ${by}`) : "";
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(x);
  }
  const cols = [
    { label: "Name", cell: x => [h("b", {}, x.name), h("span", { class: "sub mono" }, x.id)] },
    { label: "Health", cell: x => x.health === "unreachable"
      ? [badge("unreachable"), h("span", { class: "sub" }, `last seen ${since(x.last_seen)} ago`)]
      : badge(x.health) },
    { label: "Labels", cell: x => userLabels(x.labels).map(([k, v]) => h("span", { class: "chip" }, `${k}=${v}`)) },
    { label: "Engine", cell: x => x.engine || "" },
    { label: "Version", cell: x => x.version },
    { label: "Uptime", num: true, cell: x => x.health === "unreachable" ? "—" : duration(x.uptime_seconds + (Date.now() - state.loadedAt) / 1000) },
    { label: "Actors", num: true, cell: x => String(x.actors) },
    { label: "Instances", num: true, cell: x => String(x.instances) },
    { label: "Providers", num: true, cell: x => String(x.providers) },
  ];
  cols.key = x => "host:" + x.id;
  const out = [];
  for (const g of [...groups.keys()].sort()) {
    const hosts = groups.get(g);
    const down = hosts.filter(x => x.health === "unreachable").length;
    out.push(h("div", { class: "group" },
      g ? h("h3", {}, `${by}=${g} `, h("span", { class: "note" }, `${hosts.length} hosts${down ? `, ${down} unreachable` : ""}`)) : null,
      table(cols, hosts, "No host answered.")));
  }
  $("hosts").replaceChildren(...(out.length ? out : [h("p", { class: "empty" }, "No host answered.")]));
}

function actionButtons(name, hostID) {
  const where = hostID ? ` on ${hostName(hostID)}` : " on every host that runs it";
  return h("span", { class: "actions" },
    h("button", { type: "button", "data-key": `scale:${name}:${hostID || ""}`, "aria-label": `Scale ${name}${where}`,
      onclick: () => confirmAction({ title: `Scale ${name}`, text: `Set the instances of ${name}${where}.`, count: true,
        initial: currentInstances(name, hostID), path: "/api/scale", body: { actor: name, host_id: hostID } }) }, "Scale…"),
    h("button", { type: "button", "data-key": `stop:${name}:${hostID || ""}`, "aria-label": `Stop ${name}${where}`,
      onclick: () => confirmAction({ title: `Stop ${name}`, text: `Stop ${name}${where}? Calls in flight finish first.`,
        path: "/api/stop", body: { actor: name, host_id: hostID } }) }, "Stop…"));
}

function currentInstances(name, hostID) {
  const a = state.snap.actors.find(x => x.name === name && (!hostID || x.host_id === hostID));
  return a ? Math.max(1, a.instances) : 1;
}

function errorRate(a, where) {
  if (!a.metrics) return h("span", { title: "no metrics from this host" }, "—");
  const e = a.metrics.errors_per_sec;
  return h("span", { class: e > 0 ? "badge bad" : null, "data-errors": `${where}/${a.name}` }, rate(e));
}

function p99(a) {
  if (!a.metrics) return h("span", { title: "no metrics from this host" }, "—");
  const p = a.metrics.p99_seconds;
  if (p == null) return "—";
  return p >= 1 ? p.toFixed(2) + " s" : p >= 0.001 ? (p * 1000).toFixed(1) + " ms" : (p * 1e6).toFixed(0) + " µs";
}

function claims(a) {
  if (!a.key) return h("span", { class: "note" }, "unsigned");
  return [h("span", { class: "mono" }, short(a.key) + "…"),
    h("span", { class: "sub" }, `issuer ${short(a.issuer)}… ${a.version ? "v" + a.version : ""} rev ${a.revision || 0}`),
    (a.caps || []).map(c => h("span", { class: "chip" }, c))];
}

function renderActors() {
  const s = state.snap;
  $("rate-note").textContent = {
    metrics: "Rates and p99 over the last 30 s, from the hosts' Prometheus metrics.",
    mixed: "Rates and p99 from the metrics of the hosts that serve them (wisp up --metrics-listen); calls/s of the others from their inventories, with no error rate or p99 (—).",
  }[s.rate_source] || "calls/s from the hosts' inventories (served-calls counters between two reads); errors/s and p99 need hosts with wisp up --metrics-listen (—).";
  const by = new Map();
  for (const a of s.actors) {
    if (!by.has(a.name)) by.set(a.name, { ...a, hosts: [], instances: 0, calls_per_sec: 0, busy: 0, errors: [], metrics: null });
    const g = by.get(a.name);
    g.hosts.push(a.host_id);
    g.instances += a.instances;
    g.busy += a.busy;
    g.calls_per_sec += a.calls_per_sec;
    if (a.metrics) {
      // Errors add up; the p99 across hosts is the worst host's.
      const m = g.metrics || (g.metrics = { errors_per_sec: 0, p99_seconds: null });
      m.errors_per_sec += a.metrics.errors_per_sec;
      if (a.metrics.p99_seconds != null) m.p99_seconds = Math.max(m.p99_seconds || 0, a.metrics.p99_seconds);
    }
    if (a.last_error) g.errors.push(`${a.host_name}: ${a.last_error}`);
  }
  const agg = [...by.values()];
  const lcols = [
    { label: "Actor", cell: a => h("b", {}, a.name) },
    { label: "Instances", num: true, cell: a => h("span", { "data-instances": a.name }, String(a.instances)) },
    { label: "Hosts", num: true, cell: a => String(a.hosts.length) },
    { label: "Calls/s", num: true, cell: a => rate(a.calls_per_sec) },
    { label: "Errors/s", num: true, cell: a => errorRate(a, "lattice") },
    { label: "p99", num: true, cell: a => p99(a) },
    { label: "Last error", cell: a => a.errors.length ? a.errors.map(e => h("span", { class: "badge bad" }, e)) : "" },
    { label: "Claims", cell: claims },
    { label: "Actions", cell: a => actionButtons(a.name, "") },
  ];
  lcols.key = a => "actor:" + a.name;
  $("actors-lattice").replaceChildren(table(lcols, agg, "No actor runs on the lattice."));
  const hcols = [
    { label: "Host", cell: a => a.host_name },
    { label: "Actor", cell: a => h("b", {}, a.name) },
    { label: "Instances", num: true, cell: a => h("span", { "data-host-instances": `${a.host_name}/${a.name}` },
      a.asleep ? "0 (asleep)" : String(a.instances)) },
    { label: "Busy", num: true, cell: a => String(a.busy) },
    { label: "Calls", num: true, cell: a => String(a.calls) },
    { label: "Calls/s", num: true, cell: a => rate(a.calls_per_sec) },
    { label: "Errors/s", num: true, cell: a => errorRate(a, a.host_name) },
    { label: "p99", num: true, cell: a => p99(a) },
    { label: "Last error", cell: a => a.last_error ? h("span", { class: "badge bad" }, a.last_error) : "" },
    { label: "Up", num: true, cell: a => since(a.started_at) },
    { label: "Actions", cell: a => actionButtons(a.name, a.host_id) },
  ];
  hcols.key = a => `actor:${a.host_id}:${a.name}`;
  $("actors-host").replaceChildren(table(hcols, s.actors, "No actor runs on the lattice."));
}

function renderProviders() {
  const s = state.snap;
  const pcols = [
    { label: "Host", cell: p => p.host_name },
    { label: "Provider", cell: p => h("b", {}, p.name) },
    { label: "Contract", cell: p => h("span", { class: "mono" }, p.contract_id) },
    { label: "Link name", cell: p => p.link_name },
    { label: "Links", num: true, cell: p => String(p.links) },
    { label: "Health", cell: p => badge(p.health) },
    { label: "Up", num: true, cell: p => since(p.started_at) },
  ];
  $("providers").replaceChildren(table(pcols, s.providers, "No provider runs on the lattice."));
  const lcols = [
    { label: "Actor", cell: l => [h("b", {}, l.actor_name || l.actor_id), h("span", { class: "sub mono" }, l.actor_id)] },
    { label: "Contract", cell: l => h("span", { class: "mono" }, l.contract_id) },
    { label: "Link name", cell: l => l.link_name },
    { label: "Provider", cell: l => l.provider_id },
    { label: "Health", cell: l => badge(l.state) },
    { label: "Values", cell: l => Object.entries(l.values || {}).map(([k, v]) => h("span", { class: "chip" }, `${k}=${v}`)) },
  ];
  $("links").replaceChildren(table(lcols, s.links || [], "No links."));
  const dcols = [
    { label: "Device", cell: d => h("b", {}, d.name) },
    { label: "Gateway", cell: d => d.host_name },
    { label: "Protocol", cell: d => `${d.protocol} ${d.address}` },
    { label: "Actor", cell: d => d.actor },
    { label: "Resources", cell: d => (d.resources || []).map(r => h("span", { class: "chip" }, r)) },
    { label: "Expires in", num: true, cell: d => duration((Date.parse(d.expires) - Date.now()) / 1000) },
  ];
  $("devices").replaceChildren(table(dcols, s.devices || [], "No devices registered with a gateway."));
}

function renderApps() {
  const s = state.snap;
  const out = [];
  for (const a of s.apps || []) {
    const st = a.status || {};
    const comps = st.components || [];
    out.push(h("article", { class: "group", "data-app": a.name },
      h("div", { class: "bar" },
        h("h3", {}, a.name, " ", badge(a.summary.split(":")[0])),
        a.deployed ? h("button", { type: "button", class: "danger", "data-key": "undeploy:" + a.name,
          "aria-label": `Undeploy ${a.name}`,
          onclick: () => confirmAction({ title: `Undeploy ${a.name}`,
            text: `Undeploy ${a.name} ${a.deployed}? The reconciler stops its actors and providers and deletes its links; its versions stay stored.`,
            path: "/api/undeploy", body: { app: a.name } }) }, "Undeploy…") : null),
      a.summary.includes(":") ? h("p", { class: "problems" }, a.summary) : null,
      h("p", { class: "note" }, `deployed ${a.deployed || "—"} · latest ${a.latest}` + (st.reconciler ? ` · reconciled by ${st.reconciler}` : "")),
      table([
        { label: "Component", cell: c => h("b", {}, c.name) },
        { label: "Type", cell: c => c.provider ? `${c.type} (${c.provider})` : c.type },
        { label: "Running / desired", num: true, cell: c => `${c.running} / ${c.desired}` },
        { label: "Placement", cell: c => Object.entries(c.hosts || {}).sort().map(([k, v]) => h("span", { class: "chip" }, `${k}: ${v}`)) },
        { label: "Spread", cell: c => shares(a, c) },
        { label: "Problem", cell: c => c.error ? h("span", { class: "badge bad" }, c.error) : c.waiting ? h("span", { class: "badge warn" }, c.waiting) : "" },
      ], comps, "No status from a reconciler yet."),
      h("details", {}, h("summary", {}, `History (${a.versions.length} versions)`),
        table([
          { label: "Version", cell: v => v.version === a.deployed ? [h("b", {}, v.version), " (deployed)"] : v.version },
          { label: "Stored", cell: v => new Date(v.stored_at).toLocaleString() },
          { label: "Description", cell: v => v.description || "" },
        ], [...a.versions].reverse(), "No versions."))));
  }
  $("apps").replaceChildren(...(out.length ? out : [h("p", { class: "empty" }, "No application is stored on this lattice.")]));
}

// shares checks a component's placement against its manifest's spread:
// for each share, what runs on the hosts matching its requirements.
function shares(a, c) {
  const list = (a.spreads || {})[c.name] || [];
  const labelsOf = name => (state.snap.hosts.find(x => x.name === name) || { labels: {} }).labels;
  return list.map(sh => {
    const req = Object.entries(sh.requirements || {});
    const match = name => req.every(([k, v]) => labelsOf(name)[k] === v);
    const hosts = Object.entries(c.hosts || {}).filter(([n]) => match(n));
    const have = sh.daemon ? hosts.length : hosts.reduce((n, [, v]) => n + v, 0);
    const want = sh.daemon ? `${sh.want} on each matching host` : String(sh.want);
    const ok = sh.daemon ? hosts.every(([, v]) => v >= sh.want) : have === sh.want;
    const where = req.map(([k, v]) => `${k}=${v}`).join(",") || "any host";
    return h("span", { class: "chip" + (ok ? "" : " off") },
      `${sh.name ? sh.name + " " : ""}(${where}): ${sh.daemon ? have + " hosts, " : have + "/"}${want}`);
  });
}

// eventText summarises an event's data in a few words, as `wisp events` does.
function eventText(e) {
  const d = e.data || {};
  const t = e.type.replace("dev.wisp.lattice.", "");
  if (t.startsWith("host_")) return `${d.host ? d.host.name : ""} actors=${d.host ? d.host.actors : 0} instances=${d.host ? d.host.instances : 0}`;
  if (t.startsWith("link_")) return `${d.link ? (d.link.actor_name || d.link.actor_id) : ""} → ${d.link ? d.link.contract_id + " (" + d.link.link_name + ")" : ""}${d.error ? " error: " + d.error : ""}`;
  if (t.startsWith("provider_")) return `${d.name || ""} ${d.contract_id || ""} (${d.link_name || ""})${d.cause ? " cause: " + d.cause : ""}`;
  let s = d.actor ? `${d.actor.name} instances=${d.actor.instances}` : (d.name || "");
  if (d.error) s += " error: " + d.error;
  return s;
}

function renderEvents() {
  if (state.paused) return;
  const type = $("ev-type").value, text = $("ev-text").value.toLowerCase(), beats = $("ev-beats").checked;
  const known = new Set([...$("ev-type").options].map(o => o.value));
  for (const e of state.events) {
    const t = e.type.replace("dev.wisp.lattice.", "");
    if (!known.has(t)) { $("ev-type").append(h("option", { value: t }, t)); known.add(t); }
  }
  const rows = [];
  for (let i = state.events.length - 1; i >= 0 && rows.length < 300; i--) {
    const e = state.events[i];
    const t = e.type.replace("dev.wisp.lattice.", "");
    if (type && t !== type) continue;
    if (!beats && !type && t === "host_heartbeat") continue;
    const host = hostName(e.source.split("/").pop());
    const summary = eventText(e);
    if (text && !(`${t} ${host} ${summary}`.toLowerCase().includes(text))) continue;
    rows.push(h("li", { class: t.endsWith("failed") ? "failed" : null },
      h("span", { class: "t" }, new Date(e.time).toLocaleTimeString()),
      h("span", { class: "ty" }, t), h("span", {}, host), h("span", {}, summary)));
  }
  $("events").replaceChildren(...(rows.length ? rows : [h("li", { class: "empty" }, "No events yet.")]));
}

// ---- topology -------------------------------------------------------

const svgNS = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...kids) {
  const el = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const kid of kids) if (kid) el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return el;
}

function renderTopology() {
  const snap = state.snap;
  const keys = new Set();
  snap.hosts.forEach(x => userLabels(x.labels).forEach(([k]) => keys.add(k)));
  const by = ["site", state.groupBy, "tier", "zone"].find(k => k && keys.has(k)) || "";
  $("topo-by").textContent = by || "lattice";
  const groups = new Map();
  for (const x of snap.hosts) {
    const g = by ? (x.labels[by] || `no ${by}`) : snap.lattice;
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(x);
  }
  const colW = 250, pad = 24, lineH = 18;
  const pos = { actor: new Map(), prov: [] };
  const svg = s("svg", { role: "img", "aria-labelledby": "topo-title" }, s("title", { id: "topo-title" },
    `Topology of lattice ${snap.lattice}: ${snap.hosts.length} hosts in ${groups.size} groups`));
  const edges = s("g", {}); // appended last, so lines run over the boxes
  // Sites whose hosts run a leaf node (wisp up --leaf-url) reach the
  // rest through an uplink to the hub: hub sites first, leaf sites after,
  // a line from the hub to each leaf site.
  const isLeaf = g => groups.get(g).some(x => x.labels["wisp.leaf"] === "true");
  const order = [...groups.keys()].sort((a, b) => (isLeaf(a) - isLeaf(b)) || a.localeCompare(b));
  const boxes = new Map();
  let x = pad, maxY = 0;
  for (const g of order) {
    const site = s("g", { class: "site" });
    svg.append(site);
    let y = pad + 28;
    const hostsG = [];
    for (const host of groups.get(g)) {
      const actors = snap.actors.filter(a => a.host_id === host.id);
      const provs = snap.providers.filter(p => p.host_id === host.id);
      const hh = 26 + (actors.length + provs.length) * lineH + 6;
      const hg = s("g", { class: "host" + (host.health === "unreachable" ? " unreachable" : "") },
        s("rect", { x: x + 10, y, width: colW - 20, height: hh, rx: 6 }),
        s("text", { x: x + 20, y: y + 17 }, `${host.name}${host.health === "unreachable" ? " (unreachable)" : ""}`));
      let iy = y + 26;
      for (const a of actors) {
        hg.append(s("g", { class: "actor" }, s("circle", { cx: x + 28, cy: iy + 8, r: 6 }),
          s("text", { x: x + 40, y: iy + 12 }, `${a.name} ×${a.instances}`)));
        const list = pos.actor.get(a.key || a.name) || [];
        list.push({ x: x + colW - 10, y: iy + 8 });
        pos.actor.set(a.key || a.name, list);
        pos.actor.set(a.name, list);
        iy += lineH;
      }
      for (const p of provs) {
        hg.append(s("g", { class: "prov" }, s("rect", { x: x + 22, y: iy + 2, width: 12, height: 12 }),
          s("text", { x: x + 40, y: iy + 12 }, `${p.name} (${p.link_name})`)));
        pos.prov.push({ contract: p.contract_id, link: p.link_name, x: x + colW - 10, y: iy + 8 });
        iy += lineH;
      }
      hostsG.push(hg);
      y += hh + 10;
    }
    boxes.set(g, { x: x + 2, y: pad, w: colW - 4 });
    site.append(s("rect", { x: x + 2, y: pad, width: colW - 4, height: y - pad, rx: 8 }),
      s("text", { class: "title", x: x + 12, y: pad + 18 }, `${by ? by + "=" : ""}${g}`), ...hostsG);
    maxY = Math.max(maxY, y);
    x += colW + pad;
  }
  for (const l of snap.links || []) {
    const from = pos.actor.get(l.actor_id) || pos.actor.get(l.actor_name) || [];
    const to = pos.prov.filter(p => p.contract === l.contract_id && p.link === l.link_name);
    for (const a of from) for (const p of to) {
      // Out of the right edge of the actor's host and into the right
      // edge of the provider's, bulging right.
      const dx = 30 + Math.abs(p.x - a.x) / 4;
      edges.append(s("path", { class: "edge" + (l.state.startsWith("failed") ? " failed" : ""),
        d: `M${a.x},${a.y} C${Math.max(a.x, p.x) + dx},${a.y} ${Math.max(a.x, p.x) + dx},${p.y} ${p.x},${p.y}` },
        s("title", {}, `${l.actor_name || l.actor_id} → ${l.contract_id} (${l.link_name}): ${l.state}`)));
    }
  }
  const hub = order.find(g => !isLeaf(g));
  if (hub !== undefined) {
    const hb = boxes.get(hub);
    for (const g of order.filter(isLeaf)) {
      const b = boxes.get(g);
      const down = groups.get(g).every(x => x.health === "unreachable");
      edges.append(s("path", { class: "uplink" + (down ? " down" : ""),
        d: `M${hb.x + hb.w / 2},${hb.y} C${hb.x + hb.w / 2},${hb.y - 12} ${b.x + b.w / 2},${b.y - 12} ${b.x + b.w / 2},${b.y}` },
        s("title", {}, `leaf connection of ${g} to ${hub}${down ? ": down, no host of the site answers" : ""}`)));
    }
  }
  svg.append(edges);
  x += 40; // room for the lines that bulge out of the last column
  svg.setAttribute("width", Math.max(x, 320));
  svg.setAttribute("height", maxY + pad);
  svg.setAttribute("viewBox", `0 0 ${Math.max(x, 320)} ${maxY + pad}`);
  $("topology").replaceChildren(svg);
}

// ---- rendering, focus and routing ------------------------------------

function render() {
  const s = state.snap;
  if (!s) return;
  // Keep the keyboard user's place: re-rendering replaces the buttons.
  const active = document.activeElement && document.activeElement.getAttribute("data-key");
  $("n-hosts").textContent = `(${s.hosts.length})`;
  $("n-actors").textContent = `(${new Set(s.actors.map(a => a.name)).size})`;
  $("n-apps").textContent = `(${(s.apps || []).length})`;
  const probs = Object.entries(s.problems || {});
  $("problems").hidden = !probs.length;
  $("problems").replaceChildren(...probs.map(([k, v]) => h("p", {}, h("b", {}, k + ": "), v)));
  renderHosts(); renderActors(); renderProviders(); renderApps(); renderTopology();
  if (active) {
    const el = document.querySelector(`[data-key="${CSS.escape(active)}"]`);
    if (el) el.focus();
  }
  $("conn").textContent = `live · ${s.server} · updated ${new Date(s.updated_at).toLocaleTimeString()}`;
}

function show() {
  const v = views.includes(location.hash.slice(1)) ? location.hash.slice(1) : "hosts";
  for (const name of views) {
    $("view-" + name).hidden = name !== v;
    const a = document.querySelector(`nav a[data-view="${name}"]`);
    if (name === v) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  document.body.dataset.view = v;
  if (v === "events") renderEvents();
}

// ---- actions --------------------------------------------------------

let pending = null;

function confirmAction(a) {
  pending = a;
  $("confirm-title").textContent = a.title;
  $("confirm-text").textContent = a.text;
  $("confirm-count-label").hidden = !a.count;
  if (a.count) $("confirm-count").value = a.initial || 1;
  $("confirm-ok").textContent = a.title.split(" ")[0];
  $("confirm").showModal();
  (a.count ? $("confirm-count") : $("confirm-cancel")).focus();
}

function toast(text, error) {
  const t = $("toast");
  t.textContent = text;
  t.className = "toast" + (error ? " error" : "");
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, error ? 20000 : 6000);
}

async function runPending() {
  const a = pending;
  pending = null;
  $("confirm").close();
  if (!a) return;
  const body = { ...a.body };
  if (a.count) body.count = parseInt($("confirm-count").value, 10);
  toast(`${a.title}: working…`);
  try {
    const r = await fetch(a.path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Wisp-Token": token },
      body: JSON.stringify(body),
    });
    const res = await r.json();
    if (res.ok) toast(res.message);
    else toast(`${a.title} failed: ${res.error}`, true);
  } catch (err) {
    toast(`${a.title} failed: ${err}`, true);
  }
}

// ---- start ----------------------------------------------------------

function connect() {
  const es = new EventSource("/api/stream");
  es.addEventListener("snapshot", m => {
    state.snap = JSON.parse(m.data);
    state.loadedAt = Date.now();
    render();
    if (!document.body.dataset.loaded) {
      // Time from navigation to the first lattice drawn, for measurements.
      window.wispFirstDrawMs = performance.now();
      document.body.dataset.loaded = "true";
    }
  });
  es.addEventListener("backlog", m => {
    state.events = JSON.parse(m.data) || [];
    renderEvents();
  });
  es.addEventListener("lattice", m => {
    state.events.push(JSON.parse(m.data));
    if (state.events.length > maxEvents) state.events.splice(0, state.events.length - maxEvents);
    if (document.body.dataset.view === "events") renderEvents();
  });
  es.onerror = () => { $("conn").textContent = "connection to wisp ui lost: reconnecting…"; };
}

window.addEventListener("hashchange", show);
$("group-by").addEventListener("change", e => {
  state.groupBy = e.target.value;
  localStorage.setItem("wisp.groupBy", state.groupBy);
  render();
});
for (const id of ["ev-type", "ev-text", "ev-beats"]) $(id).addEventListener("input", renderEvents);
$("ev-pause").addEventListener("click", e => {
  state.paused = !state.paused;
  e.target.setAttribute("aria-pressed", String(state.paused));
  e.target.textContent = state.paused ? "Resume" : "Pause";
  if (!state.paused) renderEvents();
});
$("confirm-form").addEventListener("submit", e => { e.preventDefault(); runPending(); });
$("confirm-cancel").addEventListener("click", () => { pending = null; $("confirm").close(); });
show();
connect();
