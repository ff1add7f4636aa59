// The pipeline dashboard: each job's rates (charted over the last two minutes), lags,
// checkpoints, dead letters, state and last exception, and the process's CPU and memory,
// from GET /api/jobs every second.

import { html, timeChart } from "./svg.js";
import {
  pollJobs, showConnection, stateBadge, troubled, duration, ago, uptime, rate, count, bytes,
  when,
} from "./jobs.js";

const $ = (id) => document.getElementById(id);

/** How much history the charts keep, in milliseconds. */
const WINDOW_MS = 120_000;

// Samples seen: job id → [[Date, in/s, out/s]], and the process's [[Date, cpu %, rss MB]].
const history = new Map();
const processHistory = [];

const trim = (samples, now) => {
  while (samples.length && now - samples[0][0] > WINDOW_MS) samples.shift();
};

function record({ jobs, process }) {
  const now = new Date();
  for (const job of jobs) {
    if (!history.has(job.id)) history.set(job.id, []);
    const samples = history.get(job.id);
    samples.push([now, job.events_in_per_sec, job.events_out_per_sec]);
    trim(samples, now);
  }
  for (const id of history.keys()) {
    if (!jobs.some((j) => j.id === id)) history.delete(id);
  }
  processHistory.push([now, process.cpu_percent, process.rss_bytes]);
  trim(processHistory, now);
}

// --- the process ---

function drawProcess(process) {
  $("cpu").textContent = process.cpu_percent === null ? "–" : `${process.cpu_percent.toFixed(1)} %`;
  $("rss").textContent = bytes(process.rss_bytes);
  $("cores").textContent = String(process.cores);
  $("threads").textContent = count(process.threads);
  $("process-uptime").textContent = duration(process.uptime_ms);
  const points = (i, scale) => processHistory
    .filter((s) => s[i] !== null && s[i] !== undefined)
    .map((s) => [s[0], s[i] * scale]);
  timeChart($("cpu-chart"), [{ name: "CPU", color: "#7c3aed", points: points(1, 1) }],
    { unit: "%", width: 640, height: 130 });
  timeChart($("rss-chart"), [{ name: "RSS", color: "#0891b2", points: points(2, 1e-6) }],
    { unit: "MB", width: 640, height: 130 });
}

// --- the jobs ---

/** A figure of a card: its name, its value (with a class to find it by) and a note. */
function figure(name, cls, value, note = "", bad = false) {
  return html("div", { class: `figure-box${bad ? " bad" : ""}` }, [
    html("div", { class: "label" }, [name]),
    html("div", { class: `value ${cls}` }, [value]),
    ...(note ? [html("div", { class: "sub" }, [note])] : []),
  ]);
}

function card(job) {
  const c = job.last_checkpoint;
  const last = job.exceptions[0];
  const trouble = troubled(job.state);
  const chart = html("div", { class: "rates" });
  const samples = history.get(job.id) || [];
  const node = html("section", {
    class: `panel job-card ${job.state}${trouble ? " alarm" : ""}`,
    "data-id": job.id,
  }, [
    html("h2", {}, [
      html("span", { class: "name" }, [job.name]), " ", stateBadge(job.state),
      html("span", { class: "counts" }, [
        job.started_at_ms === null ? "" : ` up ${uptime(job)}`,
        job.restarts ? ` · ${job.restarts} restart${job.restarts === 1 ? "" : "s"}` : "",
      ]),
    ]),
    html("div", { class: "figures" }, [
      figure("in/s", "in-rate", rate(job.events_in_per_sec), `${count(job.events_in)} total`),
      figure("out/s", "out-rate", rate(job.events_out_per_sec), `${count(job.events_out)} total`),
      figure("watermark lag", "watermark-lag", duration(job.watermark_lag_ms),
        job.watermark_ms === null ? "no watermark yet" : `at ${when(job.watermark_ms).slice(11)}`),
      figure("source lag", "source-lag", count(job.source_lag), "records unread"),
      figure("checkpoint", "checkpoint-duration", c ? duration(c.duration_ms) : "–",
        c ? `#${c.id}, ${ago(c.completed_at_ms)}` : "none yet"),
      figure("dead letters", "dead-letters", count(job.dead_letters),
        `${count(job.late_events)} late`, job.dead_letters > 0),
    ]),
    chart,
    last
      ? html("div", { class: `exception${trouble ? " current" : ""}` }, [
        html("span", { class: "at" }, [`last exception, ${when(last.at_ms)} UTC (${ago(last.at_ms)})`]),
        html("pre", { class: "message" }, [last.message]),
      ])
      : html("p", { class: "note no-exception" }, ["no exceptions"]),
  ]);
  timeChart(chart, [
    { name: "in/s", color: "#2563eb", points: samples.map((s) => [s[0], s[1]]) },
    { name: "out/s", color: "#16a34a", points: samples.map((s) => [s[0], s[2]]) },
  ], { unit: "rows/s", width: 640, height: 170 });
  return node;
}

function draw(answer) {
  record(answer);
  const { jobs, process } = answer;
  drawProcess(process);
  // Jobs in trouble first, then in the order they were submitted.
  const ordered = [...jobs.filter((j) => troubled(j.state)), ...jobs.filter((j) => !troubled(j.state))];
  $("cards").replaceChildren(...ordered.map(card));
  const bad = jobs.filter((j) => troubled(j.state));
  const running = jobs.filter((j) => j.state === "running").length;
  $("summary").textContent = `${jobs.length} job${jobs.length === 1 ? "" : "s"}: ${running} running`
    + (bad.length ? `, ${bad.length} failing (${bad.map((j) => j.name).join(", ")})` : "");
  $("overview").classList.toggle("alarm", bad.length > 0);
  const status = $("jobs-status");
  status.className = "status";
  status.textContent = jobs.length ? "" : "no jobs yet: release one in the job console";
}

pollJobs(draw, (state, message) => {
  showConnection(state);
  if (state === "live") return;
  const status = $("jobs-status");
  status.className = `status ${state === "nojobs" ? "" : "down"}`;
  status.textContent = state === "nojobs" ? `No jobs in this process: ${message}` : message;
});
