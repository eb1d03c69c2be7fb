// @ts-check
// The dashboard's wiring: sign-in, the one live stream (GET /v1/events),
// and the row actions. State lives in the table; nothing is polled.
import { api, ApiError, readEvents, savedToken, saveToken } from "./api.js";
import { renderCluster } from "./cluster.js";
import { confirmDialog, errorText, notify, Panel, showDeploy, showLogs } from "./panels.js";
import { PreviewTable } from "./table.js";

/** @template {HTMLElement} T @param {string} id @returns {T} */
const $ = (id) => /** @type {T} */ (document.getElementById(id));

const panel = new Panel();
const table = new PreviewTable(
  { tbody: $("rows"), empty: $("empty"), counts: $("counts"), search: $("search"), status: $("f-status"), tier: $("f-tier"), node: $("f-node") },
  (action, p) => void act(action, p),
);
// Render timings, for tests and for an operator's console.
/** @type {any} */ (window).previewdStats = table.stats;

/** @type {AbortController | undefined} */
let live;

/** @param {string} text @param {string} cls */
function setConn(text, cls) {
  const c = $("conn");
  c.textContent = text;
  c.className = `conn ${cls}`;
  c.hidden = false;
}

/** Checks the token against the API before keeping it; explains a refusal. @param {string} token */
async function signIn(token) {
  const error = $("login-error");
  error.textContent = "";
  saveToken(token);
  try {
    const cluster = await api("/v1/cluster");
    renderCluster($("cluster"), cluster);
  } catch (e) {
    saveToken("");
    error.textContent =
      e instanceof ApiError && e.status === 401
        ? "The daemon refused this token (401). Use the API token: PREVIEWD_API_TOKEN, or the one printed at the daemon's first start and kept in its data directory (api-token)."
        : e instanceof ApiError && e.status === 403
          ? "This token is scoped to one preview; the dashboard needs the API token."
          : errorText(e);
    return;
  }
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
  void connect();
}

/** @param {string} [message] */
function signOut(message = "") {
  live?.abort();
  panel.close();
  saveToken("");
  table.snapshot([]);
  $("app").hidden = true;
  $("logout").hidden = true;
  $("conn").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message;
  /** @type {HTMLInputElement} */ ($("token")).value = "";
}

/** The live stream, reconnected with backoff; every (re)connect starts with a full snapshot. */
async function connect() {
  live?.abort();
  const ctrl = (live = new AbortController());
  let delay = 1000;
  while (!ctrl.signal.aborted) {
    setConn("connecting…", "wait");
    try {
      await readEvents("/v1/events", ctrl.signal, (event, data) => {
        delay = 1000;
        if (event === "snapshot") {
          setConn("live", "ok");
          if (data.cluster) showCluster(data.cluster);
          table.snapshot(data.previews);
        } else if (event === "changes") table.changes(data);
        else if (event === "cluster") showCluster(data);
      });
    } catch (e) {
      if (ctrl.signal.aborted) return;
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) return signOut("The daemon no longer accepts this token; sign in again.");
    }
    if (ctrl.signal.aborted) return;
    setConn(`reconnecting in ${delay / 1000} s…`, "bad");
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 15_000);
  }
}

/** @param {import("./cluster.js").Cluster} c */
function showCluster(c) {
  renderCluster($("cluster"), c);
  for (const n of c.nodes) if (!table.nodes.has(n.id)) table.addNode(n.id);
}

/** @param {string} action @param {import("./table.js").Preview} p */
async function act(action, p) {
  const path = `/v1/previews/${encodeURIComponent(p.id)}`;
  try {
    if (action === "logs") return showLogs(panel, p);
    if (action === "deploy") return showDeploy(panel, p);
    if (action === "suspend" || action === "resume") {
      notify(`${action === "suspend" ? "Suspending" : "Resuming"} ${p.id}…`);
      table.upsert(await api(`${path}/${action}`, { method: "POST" }));
      return notify(`${p.id} ${action === "suspend" ? "suspended" : "resumed"}.`);
    }
    if (action === "delete") {
      if (!(await confirmDialog(`Delete preview ${p.id}? Its container, files and database schema are removed; this cannot be undone.`))) return;
      await api(path, { method: "DELETE" });
      table.remove(p.id);
      if (panel.previewId === p.id) panel.close();
      return notify(`${p.id} deleted.`);
    }
  } catch (e) {
    notify(`${p.id}: ${errorText(e)}`, "error");
  }
}

$("login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  void signIn(/** @type {HTMLInputElement} */ ($("token")).value.trim());
});
$("logout").addEventListener("click", () => signOut());
if (savedToken()) void signIn(savedToken());
