// The fleet model's panel on the fleet dashboard: the live version, the drift watch, the
// retraining in progress and the registry's history, from /api/model, with "Retrain now" and
// "Promote" (POST /api/model/retrain, /api/model/promote/N). Refreshed every second.

import { html } from "./svg.js";
import { fixed } from "./page.js";

const $ = (id) => document.getElementById(id);

/** A time as "HH:MM:SS" (UTC), or "–". */
function clock(ms) {
  return ms ? new Date(ms).toISOString().slice(11, 19) : "–";
}

/** The answer of a POST, or its `{"error"}` as an exception. */
async function post(path) {
  const response = await fetch(path, { method: "POST" });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

/** Runs a button's action, showing its outcome in the panel's message line. */
async function act(button, action) {
  button.disabled = true;
  try {
    await action();
    $("model-message").className = "status";
    $("model-message").textContent = "";
  } catch (e) {
    $("model-message").className = "status error";
    $("model-message").textContent = e.message;
  } finally {
    button.disabled = false;
    await refresh();
  }
}

function draw(model) {
  const check = model.last_check;
  const retraining = model.retraining;
  const drift = !check
    ? `not checked yet (every ${Math.round(model.check_every_secs / 60)} min)`
    : check.drifted === true
      ? `drifted (largest PSI ${fixed(check.max_psi, 3)})`
      : check.drifted === false
        ? `no drift (largest PSI ${fixed(check.max_psi, 3)})`
        : "unknown";
  const retrain = html("button", { id: "retrain", type: "button" }, ["Retrain now"]);
  retrain.disabled = Boolean(retraining);
  retrain.addEventListener("click", () => act(retrain, () => post("/api/model/retrain")));
  const versions = model.versions.map((v) => {
    const live = v.version === model.live;
    const cells = [
      html("td", { class: "version" }, [`v${v.version}${live ? " (live)" : ""}`]),
      html("td", {}, [clock(v.created_at_ms)]),
      html("td", { class: "num" }, [fixed(v.f1, 3)]),
      html("td", { class: "num" }, [fixed(v.precision, 3)]),
      html("td", { class: "num" }, [fixed(v.recall, 3)]),
    ];
    const promote = html("button", { type: "button", class: "promote", "data-version": v.version }, ["Promote"]);
    promote.addEventListener("click", () => act(promote, () => post(`/api/model/promote/${v.version}`)));
    cells.push(html("td", {}, live ? [] : [promote]));
    return html("tr", { class: live ? "model live" : "model" }, cells);
  });
  const decisions = model.decisions.slice(0, 10).map((d) =>
    html("tr", { class: `decision ${d.action}` }, [
      html("td", {}, [clock(d.at_ms)]),
      html("td", { class: "action" }, [d.action]),
      html("td", { class: "version" }, [`v${d.version}`]),
      html("td", {}, [d.reason]),
    ]),
  );
  $("model").replaceChildren(
    html("h2", {}, ["Model ", html("span", { class: "version", id: "live-version" }, [
      model.live ? `v${model.live}` : "none live",
    ])]),
    html("table", { class: "detail" }, [
      html("tr", {}, [html("th", {}, ["drift"]), html("td", { id: "drift" }, [drift])]),
      html("tr", {}, [html("th", {}, ["last check"]), html("td", { id: "last-check" }, [
        check ? `${clock(check.at_ms)} · ${check.action}: ${check.reason}` : "–",
      ])]),
      html("tr", {}, [html("th", {}, ["retraining"]), html("td", { id: "retraining" }, [
        retraining ? `since ${clock(retraining.started_at_ms)}: ${retraining.step}` : "idle",
      ])]),
    ]),
    html("p", {}, [retrain]),
    html("div", { id: "model-message", class: $("model-message")?.className || "status" }, [
      $("model-message")?.textContent || "",
    ]),
    html("h3", {}, ["Versions"]),
    html("table", { class: "rows" }, [
      html("tr", {}, ["version", "trained (UTC)", "F1", "precision", "recall", ""].map((h) => html("th", {}, [h]))),
      ...versions,
    ]),
    html("h3", {}, ["Retraining history"]),
    html("table", { class: "rows" }, decisions.length ? decisions : [html("tr", {}, [html("td", {}, ["no decision yet"])])]),
  );
}

async function refresh() {
  try {
    const response = await fetch("/api/model");
    const body = await response.json();
    if (!response.ok) {
      $("model").replaceChildren(html("h2", {}, ["Model"]), html("p", { class: "note" }, [body.error || `HTTP ${response.status}`]));
      return;
    }
    draw(body);
  } catch (e) {
    $("model").replaceChildren(html("h2", {}, ["Model"]), html("div", { class: "status down" }, ["server unreachable: retrying"]));
  }
}

refresh();
setInterval(refresh, 1000);
