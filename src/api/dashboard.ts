// A one-page dashboard: lists previews with the token the operator pastes
// (kept in the browser's sessionStorage, never in the page).
export function dashboardPage(): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>previewd</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}td,th{padding:.3em .8em;text-align:left}</style></head>
<body><h1>previewd</h1>
<p><input id="t" type="password" placeholder="API token" size="40"> <button id="go">Show previews</button></p>
<table><thead><tr><th>id</th><th>status</th><th>node</th><th>last active</th></tr></thead><tbody id="rows"></tbody></table>
<script>
const t = document.getElementById("t"); t.value = sessionStorage.getItem("previewd-token") || "";
async function load() {
  sessionStorage.setItem("previewd-token", t.value);
  const r = await fetch("/v1/previews", { headers: { authorization: "Bearer " + t.value } });
  const rows = document.getElementById("rows"); rows.textContent = "";
  if (!r.ok) { rows.textContent = "HTTP " + r.status; return; }
  for (const p of (await r.json()).previews) {
    const tr = rows.insertRow();
    const a = document.createElement("a"); a.href = p.url; a.textContent = p.id;
    tr.insertCell().append(a);
    for (const k of ["status", "node", "lastActiveAt"]) tr.insertCell().textContent = p[k];
  }
}
document.getElementById("go").onclick = load; if (t.value) load();
</script></body></html>`;
}
