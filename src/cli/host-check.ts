// The Host header values `gpt serve` answers to. A browser sends the name it resolved, so a page on
// evil.example whose DNS later points at 127.0.0.1 (DNS rebinding) arrives with Host evil.example:
// only the names of the bound address itself (the loopback names for 127.0.0.1, every local address
// and the host name when bound to all interfaces) are accepted, with any port: such a page names its
// own name whatever its port, and a tunnel or a port mapping (ssh -L 9000:localhost:8080, docker -p
// 9000:8080) names the port its client reached, not the bound one.
import { BlockList, isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '::1'];

// 127.0.0.0/8 and ::1 however they are spelled: the BlockList also matches IPv4-mapped IPv6
// (::ffff:127.0.0.1, ::ffff:7f00:1) and the long forms of ::1.
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

export function isLoopback(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  const family = isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * `host` as a browser writes it in a URL, and so in its Host header: IPv4 however spelled (127.1,
 * 0x7f.1, 0) as a.b.c.d, IPv6 compressed, names lowercased; without brackets.
 */
export function browserHostname(host: string): string {
  try {
    return new URL(`http://${isIP(host) === 6 ? `[${host}]` : host}/`).hostname.replace(/^\[(.*)\]$/, '$1');
  } catch {
    return host.toLowerCase();
  }
}

/** Whether `address` (as bound) is every interface's. */
export const isUnspecified = (address: string) => address === '0.0.0.0' || address === '::';

/**
 * Accepted Host names, lowercase (IPv6 in brackets, as a Host header writes it), for a server bound to
 * `address` (what --host resolved to: 127.1 binds 127.0.0.1) through the name `host` (--host as
 * given: a URL of it names its browserHostname).
 */
export function acceptedHosts(address: string, host = address): Set<string> {
  const names = [address, browserHostname(host)];
  if (isLoopback(address)) names.push(...LOOPBACK_NAMES);
  if (isUnspecified(address)) {
    const addresses = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address));
    names.push(...LOOPBACK_NAMES, hostname(), ...addresses.filter((a) => !a.includes('%')));
  }
  return new Set(names.map((name) => (name.includes(':') ? `[${name}]` : name).toLowerCase()));
}

/** The name of a Host header value (`name`, `name:port`, `[v6]`, `[v6]:port`), lowercase; null where it is none of them. */
export function hostName(host: string): string | null {
  return /^(\[[^\]]*\]|[^:[\]]*)(?::\d*)?$/.exec(host)?.[1]!.toLowerCase() ?? null;
}

/**
 * The host and path a request names: an origin-form target's path with its Host header, or an
 * absolute-form target's own host and path (RFC 9112 §3.2.2: a server MUST accept that form, and
 * then take its host, not Host's); null for any other (authority-form, `*`, userinfo, another
 * scheme) and for more than one Host header (§3.2: a 400), or none with an origin-form target.
 * `rawHeaders`: the request's header lines as Node gives them, name and value in turn.
 */
export function requestTarget(target: string, rawHeaders: string[]): { host: string; path: string } | null {
  const hosts = rawHeaders.filter((_, i) => i % 2 === 1 && rawHeaders[i - 1]!.toLowerCase() === 'host');
  if (hosts.length > 1) return null;
  if (target.startsWith('/')) return hosts.length ? { host: hosts[0]!.trim(), path: target } : null;
  const absolute = /^http:\/\/([^/?#@]*)([/?#].*)?$/i.exec(target);
  if (!absolute) return null;
  const rest = absolute[2] ?? '';
  return { host: absolute[1]!, path: rest.startsWith('/') ? rest : `/${rest}` };
}
