// Prometheus text exposition (format 0.0.4) of the daemon's gauges.
export type Gauge = { name: string; help: string; value: number; labels?: Record<string, string> };

export function renderMetrics(gauges: Gauge[]): string {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const g of gauges) {
    if (!seen.has(g.name)) {
      seen.add(g.name);
      out.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`);
    }
    const labels = g.labels ? `{${Object.entries(g.labels).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, "_")}"`).join(",")}}` : "";
    out.push(`${g.name}${labels} ${g.value}`);
  }
  return out.join("\n") + "\n";
}
