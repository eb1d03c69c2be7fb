// @ts-check
// The cluster strip: one card per node (state, capacity used and free), the
// warm pool of the node serving this page, and whether overflow to Fly is on.
// Rebuilt whole on each change: a handful of nodes, a change now and then.

/**
 * @typedef {{ id: string, state: string, capacity: number, running: number, free: number, addr: string, memory?: { total: number, free: number } }} Node
 * @typedef {{ nodes: Node[], overflow: { fly: boolean }, warmPool?: { node: string, available: number, target: number } }} Cluster
 */

/** @param {string} tag @param {string} [cls] @param {string} [text] */
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** @param {HTMLElement} root @param {Cluster} c */
export function renderCluster(root, c) {
  const cards = [];
  for (const n of c.nodes) {
    const card = el("div", `card node n-${n.state}`);
    card.dataset.node = n.id;
    const head = el("div", "card-head");
    head.append(el("strong", "", n.id), el("span", `state n-${n.state}`, n.state));
    const pct = n.capacity > 0 ? Math.min(100, Math.round((n.running / n.capacity) * 100)) : 100;
    const bar = el("div", "bar");
    const fill = el("div", pct >= 90 ? "fill hot" : "fill");
    fill.style.width = `${pct}%`;
    bar.append(fill);
    bar.title = `${n.running} of ${n.capacity} slots used`;
    const memory = n.memory ? ` · ${Math.round(n.memory.free / 1048576)} of ${Math.round(n.memory.total / 1048576)} MiB memory free` : "";
    card.append(head, bar, el("div", "muted", `${n.running} used · ${n.free} free · capacity ${n.capacity}${memory}`), el("div", "muted small", n.addr));
    cards.push(card);
  }
  const summary = el("div", "card summary");
  const alive = c.nodes.filter((n) => n.state === "alive");
  summary.append(
    el("strong", "", `${alive.length} of ${c.nodes.length} node${c.nodes.length === 1 ? "" : "s"} alive`),
    el("div", "muted", `${alive.reduce((s, n) => s + n.running, 0)} used · ${alive.reduce((s, n) => s + n.free, 0)} free`),
  );
  if (c.warmPool) summary.append(el("div", "muted", `warm pool (${c.warmPool.node}): ${c.warmPool.available} of ${c.warmPool.target} ready`));
  const fly = el("div", "muted", "");
  fly.append("overflow to Fly: ", el("span", c.overflow.fly ? "on" : "off", c.overflow.fly ? "on" : "off"));
  summary.append(fly);
  root.replaceChildren(summary, ...cards);
}
