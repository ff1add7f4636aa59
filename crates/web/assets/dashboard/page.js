// What the dashboard pages share: panels that follow a table, and the page's connection
// badge ("live", "polling every 5 s", "server unreachable").

import { watch } from "./live.js";

const badge = document.getElementById("connection");
const states = new Map();

function showConnection() {
  const all = [...states.values()];
  const [label, state] = all.includes("down")
    ? ["server unreachable: retrying", "down"]
    : all.includes("polling")
      ? ["polling every 5 s", "polling"]
      : all.includes("live")
        ? ["live", "live"]
        : ["waiting for data", "missing"];
  badge.textContent = label;
  badge.className = `connection ${state}`;
}

/**
 * Follows `table` with `refresh` (see `watch`), writing how it stands into the panel's
 * status element `status` and the page's connection badge.
 */
export function follow(table, refresh, status) {
  watch(table, refresh, (state, message) => {
    status.className = `status ${state}`;
    status.textContent = message;
    states.set(table, state);
    showConnection();
  });
}

/** A number with `digits` decimals, or "–" for null. */
export function fixed(value, digits) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

/**
 * A banner over the page while a job of this process is failing or restarting: its tables
 * stop updating until it recovers, which it does by itself (the pipeline dashboard has the
 * details). It goes once every job runs again. Where the process runs no jobs (no
 * `/api/jobs`), nothing is shown and the check is rare.
 */
async function watchJobs() {
  let banner = null;
  for (;;) {
    let failing = [];
    let delay = 2000;
    try {
      const response = await fetch("/api/jobs");
      if (response.status === 404) delay = 30000;
      else if (response.ok) {
        const body = await response.json();
        failing = body.jobs.filter((j) => j.state === "failed" || j.state === "restarting");
      }
    } catch {
      // The server is unreachable: the connection badge says so.
    }
    if (failing.length) {
      if (!banner) {
        banner = document.createElement("div");
        banner.id = "jobs-down";
        banner.className = "status error";
        document.querySelector("main").before(banner);
      }
      const lines = failing.map((j) => {
        const line = document.createElement("div");
        const why = j.exceptions.length ? `: ${j.exceptions[0].message}` : "";
        const state = j.state === "failed" ? "has failed" : "is restarting";
        line.textContent = `Job ${j.name} ${state}${why}. Its tables do not update until ` +
          "it recovers; it restarts from its last checkpoint by itself. ";
        const link = document.createElement("a");
        link.href = "/dashboard/pipeline";
        link.textContent = "Pipeline";
        line.append(link);
        return line;
      });
      banner.replaceChildren(...lines);
    } else if (banner) {
      banner.remove();
      banner = null;
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

watchJobs();
