// Reading the store through spate-web's HTTP API, and keeping a panel fresh as its table
// changes: each commit to the table (Server-Sent Events from /api/tables/NAME/live) asks for
// a new query, at most once a second; without events the table is polled every 5 s.

/** A query's failure, with the HTTP status (0 when the server did not answer). */
export class QueryError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** The rows of `sql`, as objects. */
export async function query(sql) {
  let response;
  try {
    response = await fetch("/api/query", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sql }),
    });
  } catch (e) {
    throw new QueryError(0, "the server does not answer");
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new QueryError(response.status, (body && body.error) || response.statusText);
  }
  return body;
}

/** The names of the store's tables. */
async function tableNames() {
  let response;
  try {
    response = await fetch("/api/tables");
  } catch (e) {
    throw new QueryError(0, "the server does not answer");
  }
  if (!response.ok) throw new QueryError(response.status, response.statusText);
  return new Set((await response.json()).map((t) => t.name));
}

/** A string as an SQL literal. */
export function literal(text) {
  return "'" + String(text).replaceAll("'", "''") + "'";
}

/** A timestamp of the API (UTC, with or without a zone) as a Date. */
export function time(value) {
  const text = String(value);
  return new Date(/(Z|[+-]\d\d:?\d\d)$/.test(text) ? text : text + "Z");
}

const POLL_MS = 5000;
const MIN_INTERVAL_MS = 1000;
const EVENTS = ["subscribed", "rows", "upsert", "delete", "lagged"];

/**
 * Keeps a panel fresh: calls `refresh()` (which queries `table` and draws, and may return a
 * note such as "no rows yet") now, after each commit to `table` (at most once a second), and
 * every 5 s while the live events are not available. `show(state, message)` is told how
 * things stand: "live" or "polling" (with the note), "missing" (no such table yet: its job
 * has not started), "down" (the server does not answer) or "error"; it recovers by itself
 * in each case.
 */
export function watch(table, refresh, show) {
  let source = null;
  let timer = null;
  let running = false;
  let again = false;
  let last = 0;
  let note = "";

  async function run() {
    if (running) {
      again = true;
      return;
    }
    running = true;
    last = Date.now();
    let ok = false;
    try {
      if (!(await tableNames()).has(table)) {
        show("missing", `waiting for the job that writes ${table}…`);
        return;
      }
      note = (await refresh()) || "";
      ok = true;
      show(source && source.readyState === EventSource.OPEN ? "live" : "polling", note);
      if (!source) subscribe();
    } catch (e) {
      show(e.status === 0 ? "down" : "error", describe(e));
    } finally {
      running = false;
      if (again) {
        again = false;
        schedule();
      } else if (!source || !ok) {
        poll();
      }
    }
  }

  function describe(e) {
    if (e.status === 0) return `the server does not answer: retrying every ${POLL_MS / 1000} s`;
    return `${table}: ${e.message}`;
  }

  // A run at most once a second, however many events come.
  function schedule() {
    if (timer) return;
    const wait = Math.max(0, last + MIN_INTERVAL_MS - Date.now());
    timer = setTimeout(() => {
      timer = null;
      run();
    }, wait);
  }

  function poll() {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      run();
    }, POLL_MS);
  }

  function subscribe() {
    source = new EventSource(`/api/tables/${encodeURIComponent(table)}/live`);
    for (const name of EVENTS) source.addEventListener(name, schedule);
    source.addEventListener("open", () => show("live", note));
    // On an error (the server went away, the table is gone), poll until a query works and
    // then subscribe again.
    source.onerror = () => {
      source.close();
      source = null;
      show("polling", note);
      poll();
    };
  }

  run();
}

