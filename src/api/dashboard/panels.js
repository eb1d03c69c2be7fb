// @ts-check
// The side panel (live logs, deploy with its steps), the delete confirmation
// and the notice line. A panel owns an AbortController: closing it, or
// opening another, ends its streams, so at most one log follower and one
// per-preview event stream are open at a time.
import { api, ApiError, readEvents, streamText } from "./api.js";
import { safeUrl } from "./table.js";

/** @typedef {import("./table.js").Preview} Preview */
/**
 * @typedef {{ id: string, previewId: string, provider: string, status: string, url?: string,
 *   steps: { name: string, startedAt?: string, endedAt?: string, detail?: string }[],
 *   data?: { tables: number, rows: number, verified: boolean }, error?: { step: string, message: string } }} Deployment
 */

/** @param {string} tag @param {string} [cls] @param {string} [text] */
export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A sentence for the operator. @param {unknown} e */
export function errorText(e) {
  if (e instanceof ApiError) return e.message;
  if (e instanceof TypeError) return "Cannot reach the daemon (network error); is it running?";
  return String(e);
}

let noticeTimer = 0;
/** @param {string} text @param {"info" | "error"} [kind] */
export function notify(text, kind = "info") {
  const n = /** @type {HTMLElement} */ (document.getElementById("notice"));
  n.textContent = text;
  n.className = `notice ${kind}`;
  n.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = window.setTimeout(() => (n.hidden = true), kind === "error" ? 10_000 : 4000);
}

export class Panel {
  constructor() {
    this.root = /** @type {HTMLElement} */ (document.getElementById("panel"));
    this.title = /** @type {HTMLElement} */ (document.getElementById("panel-title"));
    this.body = /** @type {HTMLElement} */ (document.getElementById("panel-body"));
    /** @type {AbortController | undefined} */
    this.abort = undefined;
    /** @type {string | undefined} */
    this.previewId = undefined;
    document.getElementById("panel-close")?.addEventListener("click", () => this.close());
  }

  /** @param {string} title @param {string} previewId @param {(body: HTMLElement, signal: AbortSignal) => void} build */
  open(title, previewId, build) {
    this.close();
    this.abort = new AbortController();
    this.previewId = previewId;
    this.title.textContent = title;
    this.body.replaceChildren();
    this.root.hidden = false;
    build(this.body, this.abort.signal);
  }

  close() {
    this.abort?.abort();
    this.abort = undefined;
    this.previewId = undefined;
    this.root.hidden = true;
  }
}

/** Text kept in the log view; older output is dropped so a chatty app cannot grow the page without bound. */
const MAX_LOG_CHARS = 200_000;

/** Live logs: GET /v1/previews/{id}/logs?follow=1 streamed into the panel. @param {Panel} panel @param {Preview} p */
export function showLogs(panel, p) {
  panel.open(`Logs · ${p.id}`, p.id, (body, signal) => {
    const state = el("div", "muted small", "following the app's stdout and stderr…");
    const pre = el("pre", "log");
    pre.id = "log-output";
    body.append(state, pre);
    let size = 0;
    streamText(`/v1/previews/${encodeURIComponent(p.id)}/logs?follow=1&tail=500`, signal, (text) => {
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
      pre.append(text);
      size += text.length;
      if (size > MAX_LOG_CHARS) {
        pre.textContent = (pre.textContent ?? "").slice(-MAX_LOG_CHARS / 2);
        size = pre.textContent.length;
      }
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    })
      .then(() => (state.textContent = "The log stream ended (the app stopped, or was suspended)."))
      .catch((e) => {
        if (!signal.aborted) {
          state.textContent = errorText(e);
          state.className = "error";
        }
      });
  });
}

/** Deploy, and each deployment's steps as they change (the preview's event stream). @param {Panel} panel @param {Preview} p */
export function showDeploy(panel, p) {
  panel.open(`Deploy · ${p.id}`, p.id, (body, signal) => {
    const form = el("form", "deploy-form");
    const name = /** @type {HTMLInputElement} */ (el("input"));
    name.placeholder = "Railway project name (optional)";
    name.name = "projectName";
    const cleanup = /** @type {HTMLInputElement} */ (el("input"));
    cleanup.type = "checkbox";
    const cleanupLabel = el("label", "small");
    cleanupLabel.append(cleanup, " drop the preview's schema once live");
    const go = el("button", "", "Deploy to Railway");
    form.append(name, cleanupLabel, go);
    const message = el("p", "muted");
    message.id = "deploy-message";
    const list = el("div", "deployments");
    body.append(form, message, list);
    /** @type {Map<string, HTMLElement>} */
    const shown = new Map();
    /** @param {Deployment} d */
    const render = (d) => {
      const section = renderDeployment(d);
      const old = shown.get(d.id);
      if (old) old.replaceWith(section);
      else list.prepend(section);
      shown.set(d.id, section);
    };
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      go.setAttribute("disabled", "");
      message.className = "muted";
      message.textContent = "Starting the deployment…";
      try {
        const res = await api(`/v1/previews/${encodeURIComponent(p.id)}/deploy`, { method: "POST", json: { provider: "railway", ...(name.value.trim() ? { projectName: name.value.trim() } : {}), cleanup: cleanup.checked } });
        message.textContent = "Deploying; the steps below follow it live.";
        render(res.deployment);
      } catch (err) {
        message.className = "error";
        message.textContent = errorText(err);
      } finally {
        go.removeAttribute("disabled");
      }
    });
    api(`/v1/previews/${encodeURIComponent(p.id)}/deployments`)
      .then((r) => /** @type {Deployment[]} */ (r.deployments).slice(-3).forEach(render))
      .catch((err) => { if (!signal.aborted) message.textContent = errorText(err); });
    readEvents(`/v1/previews/${encodeURIComponent(p.id)}/events`, signal, (event, data) => {
      if (event === "deployment") render(data);
    }).catch(() => { /* closed with the panel, or the preview went away */ });
  });
}

/** @param {string | undefined} a @param {string | undefined} b */
function seconds(a, b) {
  if (!a) return "";
  const s = ((b ? Date.parse(b) : Date.now()) - Date.parse(a)) / 1000;
  return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
}

/** @param {Deployment} d */
function renderDeployment(d) {
  const section = el("section", "deployment");
  section.dataset.deployment = d.id;
  const head = el("div", "card-head");
  head.append(el("strong", "", `${d.provider} · ${d.id}`), el("span", `badge d-${d.status}`, d.status));
  section.append(head);
  const steps = el("ol", "steps");
  for (const s of d.steps) {
    const li = el("li", s.endedAt ? "done" : d.status === "failed" ? "failed" : "current");
    li.append(el("span", "step-name", s.name), el("span", "muted small", ` ${seconds(s.startedAt, s.endedAt)}${s.endedAt ? "" : " …"}`));
    if (s.detail) li.append(el("div", "muted small", s.detail));
    steps.append(li);
  }
  section.append(steps);
  if (d.data) section.append(el("div", "muted small", `data: ${d.data.tables} tables, ${d.data.rows} rows, ${d.data.verified ? "verified" : "NOT verified"}`));
  if (d.url && safeUrl(d.url)) {
    const a = /** @type {HTMLAnchorElement} */ (el("a", "", d.url));
    a.href = safeUrl(d.url);
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    section.append(a);
  }
  if (d.error) section.append(el("p", "error", `${d.error.step}: ${d.error.message}`));
  return section;
}

/** The delete confirmation (a modal <dialog>); resolves true when confirmed. @param {string} text */
export function confirmDialog(text) {
  const dialog = /** @type {HTMLDialogElement} */ (document.getElementById("confirm"));
  /** @type {HTMLElement} */ (document.getElementById("confirm-text")).textContent = text;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}
