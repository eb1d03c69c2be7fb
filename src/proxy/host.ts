// `Host: {id}.{domain}[:port]` -> id. Ids are [a-z0-9]{12,}; anything else is
// not a preview host (and never reaches a lookup).
const ID = /^[a-z0-9]{12,64}$/;

export function previewIdFromHost(host: string | null | undefined, domain: string): string | undefined {
  if (!host) return undefined;
  let name = host.toLowerCase();
  const colon = name.lastIndexOf(":");
  if (colon > 0 && !name.endsWith("]")) name = name.slice(0, colon);
  if (name.endsWith(".")) name = name.slice(0, -1); // absolute DNS name
  const suffix = `.${domain}`;
  if (!name.endsWith(suffix)) return undefined;
  const id = name.slice(0, -suffix.length);
  return ID.test(id) ? id : undefined;
}
