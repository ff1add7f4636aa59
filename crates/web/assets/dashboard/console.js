// The job console: the process's jobs (GET /api/jobs, every second) with Stop and Restart,
// the job clicked (its SQL, plan and exceptions), and an editor that validates, explains
// and releases new jobs (POST /api/jobs/validate, POST /api/jobs).

import { html } from "./svg.js";
import {
  request, pollJobs, showConnection, stateBadge, troubled, duration, uptime, rate, count,
  checkpoint, when,
} from "./jobs.js";

const $ = (id) => document.getElementById(id);

let jobs = [];
let selected = decodeURIComponent((location.hash.match(/^#job=(.*)$/) || [])[1] || "") || null;
// Jobs with a stop or restart under way: id → what is being done.
const pending = new Map();
// Each job's table row, kept across refreshes so that buttons stay where they are.
const rows = new Map();

// --- the jobs table ---

const CELLS = ["name", "state", "uptime", "in-rate", "out-rate", "in-total", "out-total",
  "watermark-lag", "source-lag", "checkpoint", "dead-letters", "restarts", "actions"];
const NUMERIC = new Set(["in-rate", "out-rate", "in-total", "out-total", "watermark-lag",
  "source-lag", "dead-letters", "restarts"]);

function newRow(job) {
  const cells = Object.fromEntries(CELLS.map((c) =>
    [c, html("td", { class: NUMERIC.has(c) ? `num ${c}` : c })]));
  const stop = html("button", { type: "button", class: "stop" }, ["Stop"]);
  const restart = html("button", { type: "button", class: "restart" }, ["Restart"]);
  stop.addEventListener("click", (e) => {
    e.stopPropagation();
    act(job.id, "stop");
  });
  restart.addEventListener("click", (e) => {
    e.stopPropagation();
    act(job.id, "restart");
  });
  cells.actions.append(stop, restart);
  const row = html("tr", { class: "job", "data-id": job.id }, CELLS.map((c) => cells[c]));
  row.addEventListener("click", () => choose(job.id));
  return { row, cells, stop, restart };
}

function drawJobs() {
  const body = $("job-rows");
  const seen = new Set();
  jobs.forEach((job, i) => {
    seen.add(job.id);
    let entry = rows.get(job.id);
    if (!entry) {
      entry = newRow(job);
      rows.set(job.id, entry);
    }
    const { row, cells, stop, restart } = entry;
    if (body.children[i] !== row) body.insertBefore(row, body.children[i] || null);
    row.className = `job ${job.state}${job.id === selected ? " selected" : ""}`;
    const doing = pending.get(job.id);
    cells.name.textContent = job.name;
    if (cells.state.firstChild?.textContent !== job.state || cells.state.childNodes.length !== (doing ? 2 : 1)) {
      cells.state.replaceChildren(stateBadge(job.state),
        ...(doing ? [html("span", { class: "doing" }, [` ${doing}…`])] : []));
    }
    cells.uptime.textContent = uptime(job);
    cells["in-rate"].textContent = rate(job.events_in_per_sec);
    cells["out-rate"].textContent = rate(job.events_out_per_sec);
    cells["in-total"].textContent = count(job.events_in);
    cells["out-total"].textContent = count(job.events_out);
    cells["watermark-lag"].textContent = duration(job.watermark_lag_ms);
    cells["source-lag"].textContent = count(job.source_lag);
    cells.checkpoint.textContent = checkpoint(job);
    cells["dead-letters"].textContent = count(job.dead_letters);
    cells["dead-letters"].classList.toggle("bad", job.dead_letters > 0);
    cells.restarts.textContent = count(job.restarts);
    stop.hidden = job.state !== "running";
    restart.hidden = !["stopped", "failed", "finished"].includes(job.state);
    stop.disabled = restart.disabled = Boolean(doing);
  });
  for (const [id, entry] of rows) {
    if (!seen.has(id)) {
      entry.row.remove();
      rows.delete(id);
    }
  }
  const by = new Map();
  for (const job of jobs) by.set(job.state, (by.get(job.state) || 0) + 1);
  $("job-counts").textContent = jobs.length
    ? `${jobs.length} · ` + [...by].map(([state, n]) => `${n} ${state}`).join(", ")
    : "";
  $("jobs-status").className = "status";
  $("jobs-status").textContent = jobs.length ? "" : "no jobs yet: write one below and release it";
  drawDetail();
}

/** Stops or restarts a job; the server answers once done. */
async function act(id, action) {
  pending.set(id, action === "stop" ? "stopping" : "restarting");
  drawJobs();
  const status = $("action-status");
  try {
    await request("POST", `/api/jobs/${encodeURIComponent(id)}/${action}`);
    status.className = "status";
    status.textContent = "";
  } catch (e) {
    status.className = "status error";
    status.textContent = `${action} ${id}: ${e.message}`;
  } finally {
    pending.delete(id);
    refresh();
  }
}

// --- the job clicked ---

function choose(id) {
  selected = id;
  history.replaceState(null, "", `#job=${encodeURIComponent(id)}`);
  shown = null;
  drawJobs();
}

// What the detail panel shows, to redraw it only when that changes (and keep its scroll).
let shown = null;

function drawDetail() {
  const panel = $("detail");
  const job = jobs.find((j) => j.id === selected);
  if (!job) {
    panel.classList.remove("alarm");
    if (shown !== "") {
      shown = "";
      panel.replaceChildren(html("h2", {}, ["Job"]),
        html("p", { class: "note" }, [selected ? `no job ${selected}` : "Click a job in the table."]));
    }
    return;
  }
  const key = JSON.stringify([job.id, job.state, job.sql, job.plan, job.exceptions,
    job.restored_from, job.submitted_at_ms]);
  if (key === shown) return;
  shown = key;
  const line = (name, value) => html("tr", {}, [html("th", {}, [name]), html("td", {}, [value])]);
  const exceptions = job.exceptions.length
    ? html("ol", { class: "exceptions" }, job.exceptions.map((x) =>
      html("li", { class: "exception" }, [
        html("span", { class: "at" }, [when(x.at_ms)]),
        html("pre", { class: "message" }, [x.message]),
      ])))
    : html("p", { class: "note" }, ["none"]);
  panel.replaceChildren(
    html("h2", {}, [job.name, " ", stateBadge(job.state)]),
    html("table", { class: "detail" }, [
      line("id", job.id),
      line("submitted (UTC)", when(job.submitted_at_ms)),
      line("resumed from checkpoint", job.restored_from === null ? "–" : `#${job.restored_from}`),
    ]),
    html("h3", {}, ["Exceptions, newest first (UTC)"]),
    exceptions,
    html("h3", {}, ["SQL"]),
    html("pre", { class: "sql" }, [job.sql]),
    html("h3", {}, ["Plan"]),
    html("pre", { class: "plan" }, [job.plan]),
  );
  panel.classList.toggle("alarm", troubled(job.state));
}

// --- the editor ---

/** Says `message` under the editor (`kind`: "ok", "error" or "" for a note). */
function say(kind, message) {
  const check = $("check");
  check.className = `status ${kind}`;
  check.textContent = message;
}

/** Selects the place an error's "line:column" points at in the editor. */
function pointAt(message) {
  const at = message.match(/(\d+):(\d+)/);
  if (!at) return;
  const lines = $("sql").value.split("\n");
  const line = Math.min(Number(at[1]), lines.length) - 1;
  if (line < 0) return;
  const offset = lines.slice(0, line).reduce((n, l) => n + l.length + 1, 0)
    + Math.max(0, Math.min(Number(at[2]) - 1, lines[line].length));
  $("sql").setSelectionRange(offset, Math.min(offset + 1, $("sql").value.length));
}

/** Checks the editor's SQL: `{inserts, plan}`, or null once the error is said. */
async function check() {
  const sql = $("sql").value;
  if (!sql.trim()) {
    say("error", "write the job's SQL first");
    return null;
  }
  say("", "checking…");
  try {
    return await request("POST", "/api/jobs/validate", { sql });
  } catch (e) {
    say("error", e.message);
    pointAt(e.message);
    $("plan").hidden = true;
    return null;
  }
}

const statements = (n) => `${n} INSERT statement${n === 1 ? "" : "s"}`;

$("validate").addEventListener("click", async () => {
  const checked = await check();
  if (checked) say("ok", `OK, ${statements(checked.inserts)}`);
});

$("explain").addEventListener("click", async () => {
  const checked = await check();
  if (!checked) return;
  say("ok", `OK, ${statements(checked.inserts)}: the plan`);
  $("plan").textContent = checked.plan;
  $("plan").hidden = false;
});

$("release").addEventListener("click", async () => {
  const name = $("job-name").value.trim();
  const sql = $("sql").value;
  if (!name) {
    say("error", "give the job a name");
    $("job-name").focus();
    return;
  }
  if (!sql.trim()) {
    say("error", "write the job's SQL first");
    return;
  }
  say("", `releasing ${name}…`);
  try {
    const job = await request("POST", "/api/jobs", { name, sql });
    say("ok", `released ${job.name} (id ${job.id}): ${job.state}`);
    selected = job.id;
    shown = null;
    refresh();
  } catch (e) {
    say("error", e.message);
    pointAt(e.message);
  }
});

// --- polling ---

function show(state, message) {
  showConnection(state);
  if (state === "live") return;
  const status = $("jobs-status");
  status.className = `status ${state === "nojobs" ? "" : "down"}`;
  status.textContent = state === "nojobs"
    ? `No job console in this process: ${message}`
    : message;
  for (const button of document.querySelectorAll("#validate, #explain, #release")) {
    button.disabled = state === "nojobs";
  }
}

const refresh = pollJobs((answer) => {
  jobs = answer.jobs;
  for (const button of document.querySelectorAll("#validate, #explain, #release")) {
    button.disabled = false;
  }
  drawJobs();
}, show);
