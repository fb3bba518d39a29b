/**
 * Banned client addresses (rsync password guessers) rendered into rsyncd.conf.
 *
 * rsync decides access per module (access.c allow_access): an address matching `hosts allow` is ALWAYS let in; an
 * allow list without a deny list refuses everything else; otherwise a `hosts deny` match refuses; everything else is
 * let in. Module parameters replace (not extend) the global defaults. So "add the ban to a global hosts deny" would
 * be wrong twice: a module with its own deny list would ignore it, and a module that only has an allow list would
 * suddenly admit every address that is not in the new deny list. Instead each module gets its effective lists
 * rewritten: banned addresses are cut out of its allow entries (a CIDR minus one address is a handful of CIDRs)
 * and added to its deny list, and an allow-only module gets `hosts deny = *` so that it still admits only its list.
 */
import { isIP } from 'node:net';

export interface ModuleAccess {
  /** The module's allow list after the bans (may be empty even if the input was not: see `explicitEmptyAllow`). */
  allow: string[];
  deny: string[];
  /** Banned addresses this module cannot be closed to because an allow entry that cannot be split admits them. */
  unenforced: string[];
  /** Deny entries that cannot be enforced next to the allow list (see applyBans). */
  unenforcedDeny: string[];
}

/** Null when `address` is a plain IP address RsyncHub may ban (no zone id, no prefix), else why not. */
export function checkBannableAddress(address: unknown): string | null {
  if (typeof address !== 'string' || address.length === 0 || address.length > 45) return 'must be an IPv4 or IPv6 address';
  if (address.includes('%') || isIP(address) === 0) return 'must be an IPv4 or IPv6 address (no zone id, no prefix)';
  return null;
}

interface Net {
  version: 4 | 6;
  base: bigint;
  prefix: number;
}

function bits(version: 4 | 6): number {
  return version === 4 ? 32 : 128;
}

function parseV4(s: string): bigint | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let v = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    v = (v << 8n) | BigInt(Number(p));
  }
  return v;
}

function parseV6(s: string): bigint | null {
  if (isIP(s) !== 6) return null;
  let text = s;
  // A trailing dotted quad (::ffff:1.2.3.4) is two groups.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = parseV4(tail);
    if (v4 === null) return null;
    text = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const r = rest === undefined ? [] : rest === '' ? [] : rest.split(':');
  const groups = rest === undefined ? h : [...h, ...Array(8 - h.length - r.length).fill('0'), ...r];
  if (groups.length !== 8) return null;
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(parseInt(g, 16));
  return v;
}

function parseAddress(s: string): { version: 4 | 6; value: bigint } | null {
  const version = isIP(s);
  if (version === 4) return { version, value: parseV4(s)! };
  if (version === 6) {
    const value = parseV6(s);
    return value === null ? null : { version, value };
  }
  return null;
}

function formatAddress(version: 4 | 6, value: bigint): string {
  if (version === 4) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((value >> BigInt(i * 16)) & 0xffffn).toString(16));
  return groups.join(':');
}

/** `a.b.c.d`, `addr/prefix`, `a.b.c.d/m.m.m.m` (contiguous masks only) as a network; null for any other form. */
export function parseNetwork(entry: string): Net | null {
  const slash = entry.indexOf('/');
  const addr = parseAddress(slash < 0 ? entry : entry.slice(0, slash));
  if (!addr) return null;
  const max = bits(addr.version);
  let prefix = max;
  if (slash >= 0) {
    const p = entry.slice(slash + 1);
    if (/^\d{1,3}$/.test(p)) {
      prefix = Number(p);
      if (prefix > max) return null;
    } else {
      const mask = addr.version === 4 ? parseV4(p) : null;
      if (mask === null) return null;
      const ones = mask.toString(2).padStart(32, '0');
      if (!/^1*0*$/.test(ones)) return null;
      prefix = ones.indexOf('0') < 0 ? 32 : ones.indexOf('0');
    }
  }
  const hostBits = BigInt(max - prefix);
  return { version: addr.version, base: (addr.value >> hostBits) << hostBits, prefix };
}

function formatNetwork(n: Net): string {
  return n.prefix === bits(n.version) ? formatAddress(n.version, n.base) : `${formatAddress(n.version, n.base)}/${n.prefix}`;
}

function contains(n: Net, version: 4 | 6, value: bigint): boolean {
  if (n.version !== version) return false;
  const hostBits = BigInt(bits(n.version) - n.prefix);
  return value >> hostBits === n.base >> hostBits;
}

/**
 * The network minus the `cuts`: split in halves down to where a cut begins (at most 32 / 128 levels per cut), in
 * address order. Recursive so that a thousand bans cost a thousand walks down, not a thousand passes over all parts.
 */
function carve(n: Net, cuts: readonly Net[]): Net[] {
  const overlapping = cuts.filter(
    (c) => c.version === n.version && (c.prefix <= n.prefix ? contains(c, n.version, n.base) : contains(n, c.version, c.base)),
  );
  if (overlapping.length === 0) return [n];
  if (overlapping.some((c) => c.prefix <= n.prefix)) return []; // a cut covers all of `n`
  const prefix = n.prefix + 1;
  const half = 1n << BigInt(bits(n.version) - prefix);
  return [
    ...carve({ version: n.version, base: n.base, prefix }, overlapping),
    ...carve({ version: n.version, base: n.base + half, prefix }, overlapping),
  ];
}

/** rsync's wildcard match (fnmatch) for `*`, `?` and `[...]`, enough to tell whether a pattern admits an address. */
function wildcardMatches(pattern: string, text: string): boolean {
  const re = pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  try {
    return new RegExp(`^${re}$`, 'i').test(text);
  } catch {
    return true; // a pattern we cannot read is assumed to admit it (reported, never silently trusted)
  }
}

/** `*` admits every address: as networks it can be split around bans and deny entries (review F7). */
const EVERY_ADDRESS: Net[] = [
  { version: 4, base: 0n, prefix: 0 },
  { version: 6, base: 0n, prefix: 0 },
];

/**
 * A module's access lists, rewritten so that rsync admits exactly: addresses matching `allow` (if it is not empty)
 * and not matching `deny`, and never a banned address. `allow`/`deny` are what the module has in effect (its own
 * list, or the global default when it has none); see the file comment for the rules.
 *
 * rsync lets an allow match in before it looks at the deny list, and admits a client matching neither list when
 * both are set (review F1). So with an allow list, every deny entry that is an address or network and every ban is
 * cut out of the allow networks, and the deny list becomes `*`. A deny entry that cannot be cut (host name,
 * wildcard, @netgroup) is returned in `unenforcedDeny`: rsync would admit an allowed address it names.
 */
export function applyBans(allow: readonly string[], deny: readonly string[], bans: readonly string[]): ModuleAccess {
  const banned = bans.map((b) => ({ text: b, net: parseNetwork(b) })).filter((b) => b.net !== null) as { text: string; net: Net }[];
  if (allow.length === 0) {
    return { allow: [], deny: [...deny, ...banned.map((b) => b.text).filter((b) => !deny.includes(b))], unenforced: [], unenforcedDeny: [] };
  }
  const cuts: { text: string; net: Net; ban: boolean }[] = banned.map((b) => ({ ...b, ban: true }));
  const unenforcedDeny: string[] = [];
  for (const d of deny) {
    if (d === '*') continue; // allow-only: what `hosts deny = *` below says anyway
    const net = parseNetwork(d);
    // `hosts deny = 0.0.0.0/0` (or ::/0) next to an allow list is the classic way of writing "everyone else": read it
    // as `*`, as rsync does, rather than as "deny every allowed address too".
    if (net && net.prefix === 0) continue;
    if (net) cuts.push({ text: d, net, ban: false });
    else unenforcedDeny.push(d);
  }
  const unenforced = new Set<string>();
  const newAllow: string[] = [];
  for (const entry of allow) {
    const nets = entry === '*' ? EVERY_ADDRESS : [parseNetwork(entry)];
    if (nets.some((n) => n === null)) {
      // A hostname, wildcard or @netgroup cannot be split. Keep it (removing it would lock out everyone it names)
      // and report every ban / deny entry it may admit: wildcards are matched against the address text as rsync does.
      // Only an address-shaped wildcard is matched against the address alone; one with letters (`*.lan`) may match
      // the client's host name when reverse lookup is on, so it may admit anything.
      const isWildcard = /[*?[]/.test(entry) && /^[0-9a-fA-F:.*?[\]!-]+$/.test(entry);
      for (const c of cuts) {
        const single = c.net.prefix === bits(c.net.version);
        if (isWildcard && single && !wildcardMatches(entry, c.text)) continue;
        if (c.ban) unenforced.add(c.text);
        else if (!unenforcedDeny.includes(c.text)) unenforcedDeny.push(c.text);
      }
      newAllow.push(entry);
      continue;
    }
    const cutNets = cuts.map((c) => c.net);
    const parts = (nets as Net[]).flatMap((net) => carve(net, cutNets));
    const untouched = parts.length === nets.length && parts.every((p, i) => p === nets[i]);
    newAllow.push(...(untouched ? [entry] : parts.map(formatNetwork)));
  }
  return { allow: [...new Set(newAllow)], deny: ['*'], unenforced: [...unenforced], unenforcedDeny };
}
