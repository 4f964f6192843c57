// The statesync inspector: reads the admin routes (/v1/admin/...) with the operator's token
// (sessionStorage, bearer header) and draws machines with statechart.js + elkjs.
import { duration } from "./durations.js";
import { activeIds, esc, layoutChart, renderSvg } from "./statechart.js";

const TOKEN_KEY = "statesync.adminToken";
const LIVE_POLL_MS = 300;
const FAILURES_POLL_MS = 2000;
const TIMELINE_MAX = 1000;
const $ = (id) => document.getElementById(id);
const elk = new globalThis.ELK();

const state = {
  machines: new Map(), // name -> machine entry of /v1/admin/machines
  collapsed: new Map(), // "machine@version" -> Set of collapsed state ids
  instance: null, // {machine, name, seq, version, row}
  follow: true,
  logSeq: -1,
  shownSeq: null,
  timers: [],
  search: null,
};

// --- the token and the API ----------------------------------------------------------------

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    Object.assign(this, { status, code });
  }
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { authorization: `Bearer ${token()}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = data.error || { code: "internal", message: response.statusText };
    if (response.status === 401 || response.status === 403) signOut(`${error.code}: ${error.message}`);
    throw new ApiError(response.status, error.code, error.message);
  }
  return data;
}

function signOut(reason = "") {
  sessionStorage.removeItem(TOKEN_KEY);
  for (const timer of state.timers) clearInterval(timer);
  state.timers = [];
  $("app").hidden = true;
  $("signout").hidden = true;
  $("who").textContent = "";
  $("signin").hidden = false;
  $("signin-error").textContent = reason;
}

async function signIn() {
  $("signin").hidden = true;
  try {
    const { machines } = await api("/v1/admin/machines");
    state.machines = new Map(machines.map((m) => [m.name, m]));
  } catch (error) {
    if (!(error instanceof ApiError)) signOut(String(error));
    return;
  }
  const claims = JSON.parse(atob(token().split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  $("who").textContent = `signed in as ${claims.sub}`;
  $("signout").hidden = false;
  $("app").hidden = false;
  renderMachineList();
  state.timers.push(setInterval(refreshFailures, FAILURES_POLL_MS));
  state.timers.push(setInterval(pollInstance, LIVE_POLL_MS));
  refreshFailures();
  route();
}

// --- small rendering helpers --------------------------------------------------------------

const time = (at) => (at ? new Date(at * 1000).toISOString().replace("T", " ").slice(0, 23) : "");
const json = (value) => JSON.stringify(value);
const stateText = (value) => (typeof value === "string" ? value : json(value));
const link = (machine, name) => `<a href="#/i/${encodeURIComponent(machine)}/${encodeURIComponent(name)}">${esc(name)}</a>`;

function rowsHtml(columns, rows) {
  return rows.map((row) => `<tr${row.__class ? ` class="${row.__class}"` : ""}${row.__attrs || ""}>${columns.map(([, cell]) => `<td>${cell(row)}</td>`).join("")}</tr>`).join("");
}

function table(element, columns, rows, empty = "none") {
  const head = `<tr>${columns.map(([title]) => `<th>${esc(title)}</th>`).join("")}</tr>`;
  const body = rows.length ? rowsHtml(columns, rows) : `<tr><td colspan="${columns.length}" class="empty">${esc(empty)}</td></tr>`;
  element.innerHTML = `<thead>${head}</thead><tbody>${body}</tbody>`;
}

function collapsedFor(machine, version) {
  const key = `${machine}@${version}`;
  if (!state.collapsed.has(key)) state.collapsed.set(key, new Set());
  return state.collapsed.get(key);
}

function chartOf(machine, version) {
  const entry = state.machines.get(machine);
  const found = entry && entry.versions.find((v) => v.version === version);
  return found ? found.chart : null;
}

/** Lay out and draw a machine's chart into `container`; clicking a toggle folds a state. */
async function drawChart(container, machine, version, active = new Set()) {
  const graph = chartOf(machine, version);
  if (!graph) {
    container.textContent = `version ${version} of ${machine} is not registered on this server`;
    return;
  }
  const collapsed = collapsedFor(machine, version);
  const laid = await layoutChart(elk, graph, { collapsed });
  container.innerHTML = renderSvg(laid, { active, interactive: true, title: `${machine} v${version}` });
  container.dataset.machine = machine;
  container.dataset.version = version;
  scrollToActive(container);
  container.onclick = (event) => {
    const toggle = event.target.closest("[data-toggle]");
    if (!toggle) return;
    const id = toggle.dataset.toggle;
    if (collapsed.has(id)) collapsed.delete(id);
    else collapsed.add(id);
    redraw(container);
  };
}

function redraw(container) {
  if (container.id === "instance-diagram" && state.instance) {
    drawChart(container, state.instance.machine, state.instance.shownVersion, state.instance.active);
  } else {
    drawChart(container, container.dataset.machine, container.dataset.version);
  }
}

/** Highlight `active` in an already drawn chart (no new layout), and bring it into view. */
function highlight(container, active) {
  for (const node of container.querySelectorAll("[data-state-id]")) {
    const on = active.has(node.dataset.stateId);
    node.classList.toggle("sc-active", on);
    if (on) node.dataset.active = "true";
    else delete node.dataset.active;
  }
  scrollToActive(container);
}

/** Scroll a chart wider or taller than its pane so its innermost active state is in view
 * (centred; nothing moves when it is already visible). */
function scrollToActive(container) {
  const active = [...container.querySelectorAll('[data-state-id][data-active="true"]')];
  if (!active.length) return;
  const area = (box) => box.width * box.height;
  const boxes = active.map((node) => node.getBoundingClientRect());
  const leaf = boxes.reduce((a, b) => (area(b) < area(a) ? b : a));
  const view = container.getBoundingClientRect();
  const visible = leaf.left >= view.left && leaf.right <= view.right && leaf.top >= view.top && leaf.bottom <= view.bottom;
  if (visible) return;
  container.scrollLeft += leaf.left - view.left - Math.max(0, (view.width - leaf.width) / 2);
  container.scrollTop += leaf.top - view.top - Math.max(0, (view.height - leaf.height) / 2);
}

// "fit width": the whole chart scaled down to the pane (kept per diagram while the page lives)
for (const button of document.querySelectorAll("button.fit")) {
  button.addEventListener("click", () => {
    const container = $(button.dataset.diagram);
    const fit = container.classList.toggle("fit");
    button.setAttribute("aria-pressed", String(fit));
    if (!fit) scrollToActive(container);
  });
}

// --- failures ---------------------------------------------------------------------------

/** Retry (an effect) and dismiss buttons for a failed effect or service. */
function workActions(work) {
  if (work.status !== "failed") return "";
  const button = (action) => `<button type="button" data-work-action="${action}" data-machine="${esc(work.machine)}" data-instance="${esc(work.instance)}" data-seq="${work.seq}" data-idx="${work.idx}">${action}</button>`;
  return `<span class="work-actions">${work.kind === "effect" ? button("retry") : ""}${button("dismiss")}</span>`;
}

// One handler for every retry / dismiss button (the failures banner, the effects table).
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-work-action]");
  if (!button) return;
  const { workAction, machine, instance, seq, idx } = button.dataset;
  button.disabled = true;
  try {
    await api(`/v1/admin/instances/${encodeURIComponent(machine)}/${encodeURIComponent(instance)}/effects/${seq}/${idx}/${workAction}`, { method: "POST" });
  } catch (error) {
    button.title = String(error.message);
    button.disabled = false;
    return;
  }
  await Promise.all([refreshFailures(), pollInstance()]);
});

async function refreshFailures() {
  let failures;
  try {
    failures = await api("/v1/admin/failures");
  } catch {
    return;
  }
  const parts = [];
  const effects = failures.effects.map((e) => `<li class="fail-effect" data-key="${esc(e.key)}">${e.status === "failed" ? "failed" : "retrying"} ${esc(e.kind)} <b>${esc(e.name)}</b> of ${link(e.machine, e.instance)} after ${e.attempts} attempt${e.attempts === 1 ? "" : "s"}: <span class="error">${esc(e.error || "")}</span>${workActions(e)}</li>`);
  const instances = failures.instances.map((i) => `<li class="fail-instance">${link(i.machine, i.instance)} (${esc(i.machine)}) in <b>${esc(stateText(i.value))}</b> ${i.status === "error" ? '<span class="error">status error</span>' : esc(i.tags.map((t) => `#${t}`).join(" "))}, idle ${duration(i.idle_seconds)}</li>`);
  const late = [
    ...failures.late_timers.map((t) => `<li class="fail-timer">timer ${esc(t.event.type)} of ${link(t.machine, t.instance)} late by ${duration(-t.due_in)}</li>`),
    ...failures.late_work.map((w) => `<li class="fail-late">${esc(w.kind)} ${esc(w.name)} of ${link(w.machine, w.instance)} due since ${esc(time(w.next_at))}</li>`),
  ];
  if (effects.length) parts.push(`<div><h3>Failed effects (${effects.length})</h3><ul>${effects.join("")}</ul></div>`);
  if (instances.length) parts.push(`<div><h3>Instances needing attention (${instances.length})</h3><ul>${instances.join("")}</ul></div>`);
  if (late.length) parts.push(`<div><h3>Late (${late.length})</h3><ul>${late.join("")}</ul></div>`);
  const box = $("failures");
  box.classList.toggle("ok", parts.length === 0);
  box.innerHTML = parts.length ? parts.join("") : "<p>No failures: no failed effects, no instance in error or needing attention, nothing late.</p>";
}

// --- machines and instances -----------------------------------------------------------------

function renderMachineList() {
  const items = [...state.machines.values()].map((m) => {
    const versions = m.versions.map((v) => `<li>v${esc(v.version)}${v.current ? " (current)" : ""}: ${v.instances}</li>`).join("");
    return `<li><a href="#/m/${encodeURIComponent(m.name)}" data-machine="${esc(m.name)}">${esc(m.name)}</a> <span class="count">${m.instances}</span><ul class="versions">${versions}</ul></li>`;
  });
  $("machines").innerHTML = `<h2>Machines</h2><ul>${items.join("")}</ul>`;
}

function show(view) {
  for (const id of ["home-view", "machine-view", "instance-view"]) $(id).hidden = id !== view;
}

async function openMachine(name) {
  const machine = state.machines.get(name);
  if (!machine) return show("home-view");
  state.instance = null;
  show("machine-view");
  $("machine-title").textContent = name;
  const select = $("version");
  select.innerHTML = machine.versions.map((v) => `<option${v.current ? " selected" : ""}>${esc(v.version)}</option>`).join("");
  select.onchange = () => drawChart($("machine-diagram"), name, select.value);
  $("expand-all").onclick = () => {
    collapsedFor(name, select.value).clear();
    drawChart($("machine-diagram"), name, select.value);
  };
  const current = machine.versions.find((v) => v.current) || machine.versions[0];
  const indexes = Object.keys(current.indexes);
  $("search").elements.index.innerHTML = `<option value="">index…</option>${indexes.map((i) => `<option>${esc(i)}</option>`).join("")}`;
  await drawChart($("machine-diagram"), name, select.value);
  state.search = { machine: name, params: new URLSearchParams(), after: "" };
  await searchInstances(false);
}

async function searchInstances(more) {
  const { machine } = state.search;
  const params = new URLSearchParams(state.search.params);
  if (more && state.search.after) params.set("after", state.search.after);
  const found = await api(`/v1/admin/instances/${encodeURIComponent(machine)}?${params}`);
  state.search.after = found.next || "";
  $("more").hidden = !found.next;
  const counts = (title, map) => `<div class="counts"><b>${esc(title)}</b> ${Object.entries(map).map(([k, n]) => `<span class="chip" data-count="${esc(k)}">${esc(k)}: ${n}</span>`).join(" ") || "none"}</div>`;
  $("counts").innerHTML = `<p><b>${found.total}</b> matching</p>${counts("per state", found.counts.state)}${counts("per version", found.counts.version)}${counts("per status", found.counts.status)}`;
  const rows = found.items.map((i) => ({ ...i, __class: i.status === "error" ? "bad" : "" }));
  const columns = [
    ["instance", (i) => link(machine, i.instance)], ["state", (i) => esc(stateText(i.value))],
    ["status", (i) => esc(i.status)], ["version", (i) => esc(i.version)], ["seq", (i) => i.seq],
    ["updated", (i) => esc(time(i.updated_at))],
  ];
  if (more) {
    $("instances").tBodies[0].insertAdjacentHTML("beforeend", rowsHtml(columns, rows));
  } else {
    table($("instances"), columns, rows, "no instance matches");
  }
}

$("search").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const params = new URLSearchParams();
  for (const key of ["prefix", "state", "status"]) if (form.get(key)) params.set(key, form.get(key));
  if (form.get("index")) {
    params.set("index", form.get("index"));
    params.set("op", form.get("op"));
    params.set("value", form.get("value"));
  }
  state.search.params = params;
  refreshMachines().catch(() => {});
  searchInstances(false).catch((error) => { $("counts").innerHTML = `<p class="error">${esc(error.message)}</p>`; });
});
$("more").addEventListener("click", () => searchInstances(true));

// --- one instance, live -------------------------------------------------------------------

async function openInstance(machine, name) {
  show("instance-view");
  state.instance = { machine, name, seq: -1, active: new Set(), shownVersion: null, overview: "" };
  state.logSeq = -1;
  state.shownSeq = null;
  $("follow").checked = state.follow = true;
  $("timeline").innerHTML = "";
  $("instance-title").textContent = `${machine} / ${name}`;
  await pollInstance();
}

async function pollInstance() {
  const current = state.instance;
  if (!current || $("instance-view").hidden || current.polling) return;
  current.polling = true;
  try {
    const row = await api(`/v1/admin/instances/${encodeURIComponent(current.machine)}/${encodeURIComponent(current.name)}`);
    if (state.instance !== current) return;
    const text = json(row);
    if (text === current.overview) return;
    current.overview = text;
    const changed = row.seq !== current.seq;
    current.seq = row.seq;
    current.version = row.version;
    $("instance-meta").innerHTML = `v${esc(row.version)} · <b>${esc(row.status)}</b> · seq ${row.seq} · in <b id="current-state">${esc(stateText(row.value))}</b>`;
    renderWork(row);
    renderUpgradeVersions(current.machine, row.version);
    if (changed) {
      const slider = $("seq");
      slider.max = String(row.seq);
      await refreshLog(current);
      if (state.follow) await showSeq(row.seq);
    }
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) $("instance-meta").textContent = error.message;
  } finally {
    current.polling = false;
  }
}

async function refreshLog(current) {
  const base = `/v1/admin/instances/${encodeURIComponent(current.machine)}/${encodeURIComponent(current.name)}/log`;
  let entries = [];
  // The timeline keeps the latest TIMELINE_MAX entries; the slider still reaches every seq.
  for (let since = Math.max(state.logSeq, current.seq - TIMELINE_MAX); ;) {
    const page = await api(`${base}?since=${since}&limit=1000`);
    entries = entries.concat(page.entries);
    if (page.next === null) break;
    since = page.next;
  }
  if (state.instance !== current || !entries.length) return;
  state.logSeq = entries[entries.length - 1].seq;
  if (!$("timeline").tBodies[0]) {
    table($("timeline"), TIMELINE, []);
    $("timeline").tBodies[0].innerHTML = "";
  }
  const rows = entries.map((e) => ({ ...e, __attrs: ` data-seq="${e.seq}"` }));
  $("timeline").tBodies[0].insertAdjacentHTML("beforeend", rowsHtml(TIMELINE, rows));
}

const TIMELINE = [
  ["seq", (e) => `<button type="button" class="linkish" data-goto="${e.seq}">${e.seq}</button>`],
  ["time", (e) => esc(time(e.at))], ["origin", (e) => esc(e.origin)], ["subject", (e) => esc(e.subject ?? "")],
  ["event", (e) => `<code>${esc(json(e.event))}</code>`], ["state", (e) => esc(stateText(e.value))],
  ["status", (e) => esc(e.status)],
];

$("timeline").addEventListener("click", (event) => {
  const target = event.target.closest("[data-goto]");
  if (target) goTo(Number(target.dataset.goto));
});

function goTo(seq) {
  const slider = $("seq");
  slider.value = String(seq);
  state.follow = $("follow").checked = seq === Number(slider.max);
  showSeq(seq);
}

$("seq").addEventListener("input", (event) => goTo(Number(event.target.value)));
$("step-back").addEventListener("click", () => goTo(Math.max(0, Number($("seq").value) - 1)));
$("step-forward").addEventListener("click", () => goTo(Math.min(Number($("seq").max), Number($("seq").value) + 1)));
$("follow").addEventListener("change", (event) => {
  state.follow = event.target.checked;
  if (state.follow && state.instance) goTo(state.instance.seq);
});

/** Show the exact snapshot at `seq` (the admin `at/{seq}` route) with its diff. */
async function showSeq(seq) {
  const current = state.instance;
  state.shownSeq = seq;
  const at = await api(`/v1/admin/instances/${encodeURIComponent(current.machine)}/${encodeURIComponent(current.name)}/at/${seq}`);
  if (state.instance !== current || state.shownSeq !== seq) return;
  $("seq").value = String(seq);
  $("seq-label").textContent = `seq ${seq} of ${current.seq} · ${at.event.type} by ${at.origin}${at.subject ? ` ${at.subject}` : ""} · ${time(at.at)}`;
  $("snapshot-seq").textContent = `seq ${seq}`;
  const pre = $("snapshot");
  pre.textContent = JSON.stringify(at.snapshot, null, 2);
  pre.dataset.seq = String(seq);
  table($("diff"), [
    ["path", (c) => `<code>${esc(c.path)}</code>`], ["change", (c) => esc(c.op)],
    ["before", (c) => `<code>${esc(json(c.before))}</code>`], ["after", (c) => `<code>${esc(json(c.after))}</code>`],
  ], at.diff || [], at.diff === null ? "the creation (seq 0)" : "no change");
  for (const tr of $("timeline").querySelectorAll("tr[data-seq]")) tr.classList.toggle("current", Number(tr.dataset.seq) === seq);
  const graph = chartOf(current.machine, at.version);
  current.active = graph ? activeIds(graph, at.snapshot.value) : new Set();
  const container = $("instance-diagram");
  if (current.shownVersion !== at.version || !container.firstElementChild) {
    current.shownVersion = at.version;
    await drawChart(container, current.machine, at.version, current.active);
  } else {
    highlight(container, current.active);
  }
  container.dataset.seq = String(seq);
}

function renderWork(row) {
  const due = (at) => esc(time(at));
  table($("effects"), [
    ["seq", (e) => `${e.seq}/${e.idx}`], ["kind", (e) => esc(e.kind)], ["name", (e) => `<b>${esc(e.name)}</b>`],
    ["status", (e) => `<span class="status-${esc(e.status)}">${esc(e.status)}</span>`], ["attempts", (e) => `<span class="attempts">${e.attempts}</span>`],
    ["last error", (e) => `<span class="error">${esc(e.error || "")}</span>`], ["next retry", (e) => due(e.next_retry)],
    ["", workActions],
  ], row.effects.map((e) => ({ ...e, __class: e.status === "failed" ? "bad" : e.error ? "warn" : "", __attrs: ` data-key="${esc(e.key)}"` })), "no effects or services");
  table($("timers"), [
    ["event", (t) => `<code>${esc(t.event.type)}</code>`], ["due", (t) => `${due(t.due)} (${t.due_in >= 0 ? "in" : "late by"} ${duration(Math.abs(t.due_in))})`],
    ["started at seq", (t) => t.seq],
  ], row.timers.map((t) => ({ ...t, __class: t.late ? "bad" : "" })), "no pending timers");
  const message = [
    ["seq", (m) => `${m.seq}/${m.idx}`], ["kind", (m) => esc(m.kind)], ["to / from", (m) => esc(m.__peer)],
    ["event", (m) => `<code>${esc(json(m.payload.event || m.payload.input || null))}</code>`],
    ["status", (m) => esc(m.status)], ["error", (m) => `<span class="error">${esc(m.error || "")}</span>`],
  ];
  table($("messages-out"), message, row.messages.out.map((m) => ({ ...m, __peer: `${m.name}/${m.target}`, __class: m.status === "failed" ? "bad" : "" })), "none sent");
  table($("messages-in"), message, row.messages.in.map((m) => ({ ...m, __peer: `${m.machine}/${m.instance}`, __class: m.status === "failed" ? "bad" : "" })), "none received");
}

function renderUpgradeVersions(machine, version) {
  const select = $("upgrade-form").elements.version;
  const versions = (state.machines.get(machine)?.versions || []).map((v) => v.version);
  const options = versions.map((v) => `<option${v === version ? " selected" : ""}>${esc(v)}</option>`).join("");
  if (select.dataset.options !== options) {
    select.innerHTML = options;
    select.dataset.options = options;
  }
}

$("send-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const current = state.instance;
  const out = $("send-result");
  let payload;
  try {
    payload = JSON.parse(event.target.elements.event.value);
  } catch (error) {
    out.textContent = `not JSON: ${error.message}`;
    out.className = "error";
    return;
  }
  try {
    const sent = await api(`/v1/admin/instances/${encodeURIComponent(current.machine)}/${encodeURIComponent(current.name)}/events`, { method: "POST", body: { event: payload } });
    out.textContent = `applied at seq ${sent.seq}`;
    out.className = "ok";
    pollInstance();
  } catch (error) {
    out.textContent = `${error.code}: ${error.message}`;
    out.className = "error";
  }
});

$("upgrade-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const current = state.instance;
  const out = $("upgrade-result");
  try {
    const done = await api(`/v1/admin/instances/${encodeURIComponent(current.machine)}/${encodeURIComponent(current.name)}/upgrade`, { method: "POST", body: { to_version: event.target.elements.version.value } });
    out.textContent = done.upgraded ? `upgraded to v${done.version}` : `already at v${done.version}`;
    out.className = "ok";
    pollInstance();
  } catch (error) {
    out.textContent = `${error.code}: ${error.message}`;
    out.className = "error";
  }
});

// --- routing and start ----------------------------------------------------------------------

async function refreshMachines() {
  const { machines } = await api("/v1/admin/machines");
  state.machines = new Map(machines.map((m) => [m.name, m]));
  renderMachineList();
}

function route() {
  if (!token()) return;
  refreshMachines().catch(() => {});
  const [, kind, machine, name] = location.hash.split("/").map(decodeURIComponent);
  if (kind === "m" && machine) openMachine(machine);
  else if (kind === "i" && machine && name) openInstance(machine, name);
  else {
    state.instance = null;
    show("home-view");
  }
}

window.addEventListener("hashchange", route);
$("signout").addEventListener("click", () => signOut());
$("signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
  $("token").value = "";
  signIn();
});

if (typeof globalThis.ELK !== "function") {
  document.body.innerHTML = '<p class="error">elkjs is not installed on the server: run <code>npm ci</code> in statesync_server/web/inspector/ (or <code>npm install elkjs</code> where the server runs).</p>';
} else if (token()) {
  signIn();
} else {
  signOut();
}
