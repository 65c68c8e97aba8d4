/** `host:port` addresses (HTTP_ADDR): one parser for the config schema, the HTTP server and the permission set. */

/** Parses `host:port` (IPv6 in brackets; an empty host means all interfaces); throws a clear error otherwise. */
export function parseHostPort(addr: string): { hostname: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([A-Za-z0-9.-]*)):(\d{1,5})$/.exec(addr.trim());
  if (!m || Number(m[3]) > 65535) {
    throw new TypeError(`Cannot parse HTTP address ${JSON.stringify(addr)}: expected host:port`);
  }
  return { hostname: m[1] ?? (m[2] || "0.0.0.0"), port: Number(m[3]) };
}
