// The small HTML pages the proxy answers itself.
const page = (title: string, body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>` +
  `<style>body{font:16px system-ui,sans-serif;max-width:36em;margin:15vh auto;color:#333}</style></head>` +
  `<body><h1>${title}</h1><p>${body}</p></body></html>`;

export const notFoundPage = () =>
  new Response(page("Preview not found", "There is no preview at this address. It may have been deleted."), {
    status: 404,
    headers: { "content-type": "text/html; charset=utf-8" },
  });

export const failedPage = () =>
  new Response(page("Preview failed", "This preview's app stopped. Its logs are available from the control API."), {
    status: 502,
    headers: { "content-type": "text/html; charset=utf-8" },
  });

export const upstreamErrorPage = () =>
  new Response(page("Preview unreachable", "The preview did not answer. Try again in a moment."), {
    status: 502,
    headers: { "content-type": "text/html; charset=utf-8" },
  });
