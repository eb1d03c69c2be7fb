// @ts-check
// The previews table. It must stay smooth at 500 rows with a change every
// second, so rows are keyed by id and kept: a change rewrites only the cells
// whose text differs, filters toggle `hidden` rather than rebuilding, and no
// value is ever parsed as HTML. Every render is timed (window.previewdStats)
// including the layout it causes, so tests and operators can see its cost.

/**
 * @typedef {{ id: string, url: string, status: string, phase?: string, tier: string, tierReason?: string, visibility?: string,
 *   node: string, createdAt: string, lastActiveAt: string, error?: string,
 *   usage?: { memoryBytes: number, cpuPercent?: number } }} Preview
 * @typedef {{ p: Preview, div: HTMLElement, key: string }} Row
 * @typedef {{ kind: string, rows: number, ms: number, dom: number, layout: number }} Render
 */

export const STATUSES = ["installing", "starting", "running", "suspended", "stopped", "failed"];
export const TIERS = ["container", "browser", "fly"];
const ACTIVE = new Set(["installing", "starting", "running"]);

/** "42s", "5m", "3h", "2d": short enough for a column. @param {number} ms */
export function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** "38 MiB": memory as people read it. @param {number} bytes */
export function mib(bytes) {
  return `${Math.round(bytes / 1048576)} MiB`;
}

/** Only http(s) URLs become links: a preview URL is data, not trusted markup. @param {string} url */
export function safeUrl(url) {
  return /^https?:\/\//i.test(url) ? url : "";
}

/** One row's cells, built once and cloned (cheaper than creating 20 elements per row). */
function template() {
  const row = document.createElement("div");
  row.className = "row";
  row.setAttribute("role", "row");
  row.innerHTML =
    '<div role="cell" class="id"><code></code><span class="vis"></span></div>' +
    '<div role="cell" class="status"><span class="badge"></span><div class="phase"></div></div>' +
    '<div role="cell" class="tier"></div><div role="cell" class="node"></div>' +
    '<div role="cell" class="mem"></div><div role="cell" class="cpu"></div>' +
    '<div role="cell" class="age"></div><div role="cell" class="active"></div>' +
    '<div role="cell" class="url"><a target="_blank" rel="noopener noreferrer"></a></div>' +
    '<div role="cell" class="acts">' +
    '<a class="button" data-action="open" target="_blank" rel="noopener noreferrer">Open</a>' +
    '<button type="button" data-action="logs">Logs</button>' +
    '<button type="button" data-action="toggle"></button>' +
    '<button type="button" data-action="deploy">Deploy</button>' +
    '<button type="button" data-action="delete" class="danger">Delete</button></div>';
  return row;
}

/** Sets text only when it differs: writes to the DOM are what cost. @param {Element} el @param {string} text */
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/** @param {Element} el @param {string} name @param {string} value */
function setAttr(el, name, value) {
  if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

export class PreviewTable {
  /**
   * @param {{ tbody: HTMLElement, empty: HTMLElement, counts: HTMLElement, search: HTMLInputElement,
   *   status: HTMLSelectElement, tier: HTMLSelectElement, node: HTMLSelectElement }} el
   * @param {(action: string, p: Preview) => void} onAction
   */
  constructor(el, onAction) {
    this.el = el;
    /** @type {Map<string, Row>} */
    this.rows = new Map();
    this.tpl = template();
    /** @type {Set<string>} */
    this.nodes = new Set();
    /** @type {{ renders: Render[], last?: Render }} */
    this.stats = { renders: [] };
    for (const s of STATUSES) el.status.add(new Option(s, s));
    for (const t of TIERS) el.tier.add(new Option(t, t));
    for (const input of [el.search, el.status, el.tier, el.node]) input.addEventListener("input", () => this.timed("filter", () => this.filterAll()));
    el.tbody.addEventListener("click", (e) => {
      const target = /** @type {Element} */ (e.target).closest("[data-action]");
      const id = /** @type {HTMLElement | null | undefined} */ (target?.closest("[data-id]"))?.dataset.id;
      const row = id ? this.rows.get(id) : undefined;
      if (!target || !row) return;
      const action = /** @type {string} */ (target.getAttribute("data-action"));
      if (action === "open") return; // a plain link
      e.preventDefault();
      onAction(action === "toggle" ? (ACTIVE.has(row.p.status) ? "suspend" : "resume") : action, row.p);
    });
    // Ages and "last active" move with the clock, not with events.
    setInterval(() => this.refreshTimes(), 15_000);
  }

  /** The whole list (first event, and after a reconnect): rows not in it go. @param {Preview[]} previews */
  snapshot(previews) {
    this.timed("snapshot", () => {
      const keep = new Set(previews.map((p) => p.id));
      for (const [id, row] of this.rows) if (!keep.has(id)) this.drop(id, row);
      const sorted = [...previews].sort(newestFirst);
      const frag = document.createDocumentFragment();
      for (const p of sorted) {
        const row = this.rows.get(p.id) ?? this.create(p);
        this.fill(row, p);
        frag.append(row.div); // moves an existing row into order
      }
      this.el.tbody.append(frag);
    }, previews.length);
  }

  /** What changed since the last event. @param {{ upsert: Preview[], remove: string[] }} c */
  changes(c) {
    this.timed("changes", () => {
      for (const id of c.remove) {
        const row = this.rows.get(id);
        if (row) this.drop(id, row);
      }
      /** @type {Preview[]} */
      const fresh = [];
      for (const p of c.upsert) {
        const row = this.rows.get(p.id);
        if (row) this.fill(row, p);
        else fresh.push(p);
      }
      this.insertNew(fresh);
    }, c.upsert.length + c.remove.length);
  }

  /** New rows: usually all newer than every shown row, so one fragment goes on top; else each finds its place. @param {Preview[]} fresh */
  insertNew(fresh) {
    fresh.sort(newestFirst);
    const firstId = /** @type {HTMLElement | null} */ (this.el.tbody.firstElementChild)?.dataset.id;
    const first = firstId ? this.rows.get(firstId)?.p : undefined;
    const oldest = fresh[fresh.length - 1];
    if (first && oldest && newestFirst(oldest, first) > 0) return fresh.forEach((p) => this.upsert(p));
    const frag = document.createDocumentFragment();
    for (const p of fresh) {
      const row = this.create(p);
      this.fill(row, p);
      frag.append(row.div);
    }
    this.el.tbody.prepend(frag);
  }

  /** One preview changed (an action's answer, a stream event). @param {Preview} p */
  upsert(p) {
    const row = this.rows.get(p.id);
    if (row) return this.fill(row, p);
    const fresh = this.create(p);
    this.fill(fresh, p);
    // Rows are newest first; a new preview is nearly always the newest.
    let before = /** @type {HTMLElement | null} */ (this.el.tbody.firstElementChild);
    while (before && newestFirst(p, /** @type {Row} */ (this.rows.get(before.dataset.id ?? "")).p) > 0) before = /** @type {HTMLElement | null} */ (before.nextElementSibling);
    this.el.tbody.insertBefore(fresh.div, before);
  }

  /** @param {string} id */
  remove(id) {
    const row = this.rows.get(id);
    if (row) this.timed("changes", () => this.drop(id, row), 1);
  }

  /** @param {string} id */
  get(id) {
    return this.rows.get(id)?.p;
  }

  /** @param {Preview} p @returns {Row} */
  create(p) {
    const div = /** @type {HTMLElement} */ (this.tpl.cloneNode(true));
    div.dataset.id = p.id;
    const row = { p, div, key: "" };
    this.rows.set(p.id, row);
    return row;
  }

  /** @param {string} id @param {Row} row */
  drop(id, row) {
    row.div.remove();
    this.rows.delete(id);
  }

  /** @param {Row} row @param {Preview} p */
  fill(row, p) {
    const key = JSON.stringify(p);
    row.p = p;
    if (key === row.key) return;
    row.key = key;
    const c = row.div.children;
    setText(/** @type {Element} */ (c[0]?.firstElementChild), p.id);
    // Private previews say so beside their id (only share links open them).
    const vis = /** @type {Element} */ (c[0]?.lastElementChild);
    setText(vis, p.visibility === "private" ? "private" : "");
    setAttr(vis, "title", p.visibility === "private" ? "private: only requests with a share link's cookie reach the app" : "");
    const badge = /** @type {HTMLElement} */ (c[1]?.firstElementChild);
    setText(badge, p.status);
    setAttr(badge, "class", `badge s-${p.status}`);
    setText(/** @type {Element} */ (c[1]?.lastElementChild), p.status === "failed" && p.error ? p.error.split("\n")[0] ?? "" : p.phase ?? "");
    setAttr(/** @type {Element} */ (c[1]), "title", p.error ?? p.phase ?? "");
    setText(/** @type {Element} */ (c[2]), p.tier);
    setAttr(/** @type {Element} */ (c[2]), "title", p.tierReason ? `why ${p.tier}: ${p.tierReason}` : "");
    setText(/** @type {Element} */ (c[3]), p.node);
    setText(/** @type {Element} */ (c[4]), p.usage ? mib(p.usage.memoryBytes) : "—");
    setText(/** @type {Element} */ (c[5]), p.usage?.cpuPercent !== undefined ? `${p.usage.cpuPercent.toFixed(1)}%` : "—");
    const link = /** @type {HTMLAnchorElement} */ (c[8]?.firstElementChild);
    const url = safeUrl(p.url);
    setAttr(link, "href", url);
    setText(link, url.replace(/^https?:\/\//, ""));
    const actions = /** @type {HTMLElement} */ (c[9]);
    setAttr(/** @type {Element} */ (actions.children[0]), "href", url);
    setText(/** @type {Element} */ (actions.children[2]), ACTIVE.has(p.status) ? "Suspend" : "Resume");
    /** @type {HTMLButtonElement} */ (actions.children[2]).disabled = p.status === "failed" || p.tier === "browser";
    this.times(row, Date.now());
    if (!this.nodes.has(p.node)) this.addNode(p.node);
    row.div.hidden = !this.matches(p);
  }

  /** @param {Row} row @param {number} now */
  times(row, now) {
    const c = row.div.children;
    setText(/** @type {Element} */ (c[6]), ago(now - Date.parse(row.p.createdAt)));
    setAttr(/** @type {Element} */ (c[6]), "title", row.p.createdAt);
    setText(/** @type {Element} */ (c[7]), `${ago(now - Date.parse(row.p.lastActiveAt))} ago`);
    setAttr(/** @type {Element} */ (c[7]), "title", row.p.lastActiveAt);
  }

  refreshTimes() {
    const now = Date.now();
    for (const row of this.rows.values()) if (!row.div.hidden) this.times(row, now);
  }

  /** Nodes seen in previews or in the cluster view, for the node filter. @param {string} node */
  addNode(node) {
    this.nodes.add(node);
    const options = [...this.nodes].sort();
    const sel = this.el.node;
    const chosen = sel.value;
    sel.length = 1;
    for (const n of options) sel.add(new Option(n, n));
    sel.value = chosen;
  }

  /** @param {Preview} p */
  matches(p) {
    const { search, status, tier, node } = this.el;
    if (status.value && p.status !== status.value) return false;
    if (tier.value && p.tier !== tier.value) return false;
    if (node.value && p.node !== node.value) return false;
    const q = search.value.trim().toLowerCase();
    return !q || p.id.includes(q) || p.url.toLowerCase().includes(q);
  }

  filterAll() {
    for (const row of this.rows.values()) {
      const show = this.matches(row.p);
      if (row.div.hidden === show) row.div.hidden = !show;
    }
  }

  /** Runs a DOM update, then the summary line, and records how long both and the layout took. @param {string} kind @param {() => void} fn @param {number} [n] */
  timed(kind, fn, n = this.rows.size) {
    const t0 = performance.now();
    fn();
    this.summary();
    const t1 = performance.now();
    void document.body.offsetHeight; // force style and layout now, so the time includes them
    const t2 = performance.now();
    const r = { kind, rows: n, ms: round(t2 - t0), dom: round(t1 - t0), layout: round(t2 - t1) };
    this.stats.last = r;
    this.stats.renders.push(r);
    if (this.stats.renders.length > 200) this.stats.renders.shift();
  }

  summary() {
    /** @type {Record<string, number>} */
    const by = {};
    let shown = 0;
    for (const row of this.rows.values()) {
      by[row.p.status] = (by[row.p.status] ?? 0) + 1;
      if (!row.div.hidden) shown++;
    }
    const parts = STATUSES.filter((s) => by[s]).map((s) => `${by[s]} ${s}`);
    setText(this.el.counts, `${shown} shown of ${this.rows.size}${parts.length ? " · " + parts.join(" · ") : ""}`);
    this.el.empty.hidden = this.rows.size > 0;
  }
}

/** @param {Preview} a @param {Preview} b */
function newestFirst(a, b) {
  return a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** @param {number} ms */
function round(ms) {
  return Math.round(ms * 10) / 10;
}
