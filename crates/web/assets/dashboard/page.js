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
