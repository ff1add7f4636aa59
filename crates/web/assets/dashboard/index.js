// The index page: the store's tables with their row counts, polled every 5 s.

import { html } from "./svg.js";

const list = document.getElementById("tables");
const status = document.getElementById("tables-status");

async function refresh() {
  try {
    const response = await fetch("/api/tables");
    if (!response.ok) throw new Error(`/api/tables answered ${response.status}`);
    const tables = await response.json();
    list.replaceChildren(
      html("tr", {}, ["table", "kind", "rows"].map((h) => html("th", {}, [h]))),
      ...tables.map((t) =>
        html("tr", {}, [
          html("td", { class: "name" }, [t.name]),
          html("td", {}, [t.kind]),
          html("td", { class: "num" }, [String(t.rows)]),
        ]),
      ),
    );
    status.className = "status live";
    status.textContent = tables.length ? "" : "no tables yet: start a job that writes the store";
  } catch (e) {
    status.className = "status down";
    status.textContent = `the server does not answer (${e.message}): retrying every 5 s`;
  } finally {
    setTimeout(refresh, 5000);
  }
}

refresh();
