// What the job console and the pipeline dashboard share: polling /api/jobs once a second,
// saying how the connection stands, and writing a job's figures (durations, ages, rates,
// byte counts and its state as a coloured badge).

import { html } from "./svg.js";

/** How often /api/jobs is asked while it answers, in milliseconds. */
export const POLL_MS = 1000;
/** How often it is asked while the process runs no jobs (404). */
const IDLE_POLL_MS = 5000;

/** The server's clock less the browser's, from the last answer (ages are the server's). */
let skewMs = 0;

/** Now, on the server's clock. */
function serverNow() {
  return Date.now() + skewMs;
}

/** A failed request, with the HTTP status (0 when the server did not answer). */
export class JobsError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * `method path` with the JSON `body` (if any): the answer's JSON, or a `JobsError` with the
 * server's `{"error"}` message.
 */
export async function request(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (e) {
    throw new JobsError(0, "the server does not answer");
  }
  const json = await response.json().catch(() => null);
  if (!response.ok) {
    throw new JobsError(response.status, (json && json.error) || `${path} answered ${response.status}`);
  }
  return json;
}

/**
 * Calls `draw({jobs, process})` with each answer of `GET /api/jobs`, once a second, and
 * `show(state, message)` with how things stand: "live" (message empty), "nojobs" (the
 * process runs no jobs: the server's reason), "down" (the server does not answer) or
 * "error". It keeps asking in every case, so the page recovers by itself. Returns a
 * function that asks again at once (after an action changed a job).
 */
export function pollJobs(draw, show) {
  let timer = null;
  let running = false;
  let again = false;

  async function run() {
    if (running) {
      again = true;
      return;
    }
    running = true;
    clearTimeout(timer);
    let wait = POLL_MS;
    try {
      const answer = await request("GET", "/api/jobs");
      if (typeof answer.now_ms === "number") skewMs = answer.now_ms - Date.now();
      draw(answer);
      show("live", "");
    } catch (e) {
      if (e.status === 404) {
        wait = IDLE_POLL_MS;
        show("nojobs", e.message);
      } else if (e.status === 0) {
        show("down", "disconnected: the server does not answer; retrying every second");
      } else {
        show("error", `/api/jobs: ${e.message}`);
      }
    } finally {
      running = false;
      if (again) {
        again = false;
        wait = 0;
      }
      timer = setTimeout(run, wait);
    }
  }

  run();
  return () => {
    clearTimeout(timer);
    run();
  };
}

/** Writes how the connection stands into the page's badge `#connection`. */
export function showConnection(state) {
  const badge = document.getElementById("connection");
  const [label, look] = {
    live: ["live", "live"],
    nojobs: ["no jobs in this process", "polling"],
    down: ["disconnected: retrying", "down"],
    error: ["error", "down"],
  }[state] || ["connecting…", ""];
  badge.textContent = label;
  badge.className = `connection ${look}`;
}

/** A job's state as a coloured badge. */
export function stateBadge(state) {
  return html("span", { class: `state ${state}` }, [state]);
}

/** Whether a job in `state` is in trouble (failed, or waiting to be restarted). */
export function troubled(state) {
  return state === "failed" || state === "restarting";
}

/** A duration: "850 ms", "12.3 s", "4m 05s", "2h 07m", "3d 04h"; "–" for null. */
export function duration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–";
  const abs = Math.abs(ms);
  const sign = ms < 0 ? "-" : "";
  const pad = (n) => String(Math.floor(n)).padStart(2, "0");
  if (abs < 1000) return `${sign}${Math.round(abs)} ms`;
  if (abs < 60_000) return `${sign}${(abs / 1000).toFixed(1)} s`;
  if (abs < 3_600_000) return `${sign}${Math.floor(abs / 60_000)}m ${pad((abs % 60_000) / 1000)}s`;
  if (abs < 86_400_000) return `${sign}${Math.floor(abs / 3_600_000)}h ${pad((abs % 3_600_000) / 60_000)}m`;
  return `${sign}${Math.floor(abs / 86_400_000)}d ${pad((abs % 86_400_000) / 3_600_000)}h`;
}

/** How long ago `atMs` (milliseconds since the epoch) was: "12.3 s ago"; "–" for null. */
export function ago(atMs) {
  if (atMs === null || atMs === undefined) return "–";
  return `${duration(Math.max(0, serverNow() - atMs))} ago`;
}

/** A job's uptime: since its current run started, while it runs. */
export function uptime(job) {
  return job.started_at_ms === null || job.started_at_ms === undefined
    ? "–"
    : duration(Math.max(0, serverNow() - job.started_at_ms));
}

/** A rate per second: "0.0", "12.5", "1,234". */
export function rate(value) {
  if (value === null || value === undefined) return "–";
  return value >= 1000 ? Math.round(value).toLocaleString("en-US") : value.toFixed(1);
}

/** A count with thousands separators; "–" for null. */
export function count(value) {
  return value === null || value === undefined ? "–" : Number(value).toLocaleString("en-US");
}

/** A number of bytes: "512 B", "12.3 MB". */
export function bytes(value) {
  if (value === null || value === undefined) return "–";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = value;
  let unit = 0;
  while (v >= 1000 && unit < units.length - 1) {
    v /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${v} B` : `${v.toFixed(1)} ${units[unit]}`;
}

/** A time (milliseconds since the epoch) as "YYYY-MM-DD HH:MM:SS" UTC. */
export function when(atMs) {
  return new Date(atMs).toISOString().replace("T", " ").slice(0, 19);
}

/** The last checkpoint: "#12, 3.2 s ago, took 85 ms"; "none yet" without one. */
export function checkpoint(job) {
  const c = job.last_checkpoint;
  if (!c) return "none yet";
  return `#${c.id}, ${ago(c.completed_at_ms)}, took ${duration(c.duration_ms)}`;
}
