// The Host header values `gpt serve` answers to. A browser sends the name it resolved, so a page on
// evil.example whose DNS later points at 127.0.0.1 (DNS rebinding) arrives with Host evil.example:
// only the names of the bound address itself (the loopback names for 127.0.0.1, every local address
// and the host name when bound to all interfaces) with the bound port are accepted.
import { hostname, networkInterfaces } from 'node:os';

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '::1'];

export const isLoopback = (host: string): boolean => LOOPBACK_NAMES.includes(host.toLowerCase()) || /^127\./.test(host);

/** Accepted Host values, lowercase, as `name:port` (and bare `name` on port 80, which browsers leave out). */
export function acceptedHosts(bound: string, port: number): Set<string> {
  const names = [bound];
  if (isLoopback(bound)) names.push(...LOOPBACK_NAMES);
  if (bound === '0.0.0.0' || bound === '::') {
    const addresses = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address));
    names.push(...LOOPBACK_NAMES, hostname(), ...addresses.filter((a) => !a.includes('%')));
  }
  const accepted = new Set<string>();
  for (const name of names) {
    const host = (name.includes(':') ? `[${name}]` : name).toLowerCase();
    accepted.add(`${host}:${port}`);
    if (port === 80) accepted.add(host);
  }
  return accepted;
}
