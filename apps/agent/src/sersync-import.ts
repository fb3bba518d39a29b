/**
 * Pure import of a sersync 2.5.x `confxml.xml`: XML text -> raw agent config (validate with validateConfig) plus the
 * list of settings that have no equivalent, as warnings.
 */
import { XMLParser } from 'fast-xml-parser';

export interface SersyncImport {
  /** Raw config object, in the shape validateConfig accepts. */
  config: Record<string, unknown>;
  warnings: string[];
}

type Node = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  // Elements are always lists (several <remote>, <exclude>, <localpath>); attributes stay scalar.
  isArray: (_name, _jpath, _isLeaf, isAttribute) => !isAttribute,
  parseAttributeValue: false,
  commentPropName: false as unknown as string,
});

const list = (n: unknown, key: string): Node[] => {
  if (!n || typeof n !== 'object') return [];
  const v = (n as Node)[key];
  return Array.isArray(v) ? (v as Node[]).map((x) => (typeof x === 'object' && x !== null ? x : {})) : [];
};
const first = (n: unknown, key: string): Node | undefined => list(n, key)[0];
const attr = (n: Node | undefined, key: string): string | undefined => {
  const v = n?.[`@${key}`];
  return typeof v === 'string' ? v : undefined;
};
const on = (n: Node | undefined): boolean => attr(n, 'start') === 'true';

/**
 * Best-effort translation of a sersync filter regex (matched against the path) into an rsync exclude pattern, so full
 * syncs skip the same files. Returns null when no faithful translation exists.
 *   (.*)\.svn -> *.svn      ^info/* -> /info/      (.*)\.gz -> *.gz
 */
export function sersyncRegexToRsyncPattern(expr: string): string | null {
  let m = /^\(\.\*\)((?:\\\.|[A-Za-z0-9_~-])+)$/.exec(expr);
  if (m) return `*${m[1].replace(/\\\./g, '.')}`;
  m = /^\^([A-Za-z0-9_.~-]+)\/\*$/.exec(expr);
  if (m) return `/${m[1]}/`;
  return null;
}

/**
 * sersync matches its filter regexes against the changed path *relative to the watched root* (e.g. ^info/* skips
 * root/info/...). Our excludeRegex is matched against the relative path too, so the expressions carry over unchanged.
 */
export interface SersyncImportOptions {
  /** Keep -u/--update from commonParams (dropped by default, see dropUpdateOption). */
  keepUpdate?: boolean;
}

/**
 * Decodes the XML with the encoding its declaration names (stock sersync files say ISO-8859-1); UTF-8 otherwise.
 * TextDecoder knows the WHATWG encodings (latin1, gbk, gb18030, big5, ...).
 */
export function decodeXml(bytes: Buffer | string): string {
  if (typeof bytes === 'string') return bytes;
  const head = bytes.subarray(0, 200).toString('latin1');
  const m = /^\uFEFF?<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(head);
  let label = m ? m[1].toLowerCase() : 'utf-8';
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) label = 'utf-8';
  try {
    return new TextDecoder(label).decode(bytes);
  } catch {
    throw new Error(`the XML declares encoding "${m?.[1]}", which this agent cannot decode`);
  }
}

/** Removes -u / --update from rsync params ('-artuz' -> '-artz'); returns null when there was none. */
export function dropUpdateOption(params: string): string | null {
  let changed = false;
  const out = params.split(/\s+/).filter(Boolean).flatMap((p) => {
    if (p === '--update') {
      changed = true;
      return [];
    }
    if (/^-[A-Za-z0-9]+$/.test(p) && p.includes('u')) {
      changed = true;
      const rest = p.replace(/u/g, '');
      return rest === '-' ? [] : [rest];
    }
    return [p];
  });
  return changed ? out.join(' ') : null;
}

export function importSersyncXml(input: string | Buffer, options: SersyncImportOptions = {}): SersyncImport {
  const warnings: string[] = [];
  const xml = decodeXml(input);
  let doc: Node;
  try {
    doc = parser.parse(xml) as Node;
  } catch (e) {
    throw new Error(`not valid XML: ${(e as Error).message}`);
  }
  const head = first(doc, 'head');
  if (!head) throw new Error('not a sersync confxml.xml: no <head> element');
  const version = attr(head, 'version');
  if (version && !version.startsWith('2.')) warnings.push(`head version="${version}": written for sersync 2.5; check the result`);

  const host = first(head, 'host');
  if (host) {
    warnings.push(`<host hostip="${attr(host, 'hostip') ?? ''}" port="${attr(host, 'port') ?? ''}">: sersync's own listener for the socket/http plugins; not used (the agent reports to RsyncHub with heartbeat instead)`);
  }
  const debug = on(first(head, 'debug'));
  const fileSystem = first(head, 'fileSystem');
  if (attr(fileSystem, 'xfs') === 'true') warnings.push('<fileSystem xfs="true">: not needed; the native watcher handles xfs like any other file system');

  // Filter: regexes on relative paths.
  const filter = first(head, 'filter');
  const excludeRegex: string[] = [];
  if (on(filter)) {
    for (const ex of list(filter, 'exclude')) {
      const expr = attr(ex, 'expression');
      if (!expr) continue;
      // One rule for every run: sersync's full regex match (regex-excludes.ts), evaluated by the agent for events and
      // for the subtrees of recursive and full runs alike; no approximate rsync pattern beside it.
      excludeRegex.push(expr);
    }
  }

  // Inotify switches.
  const ino = first(head, 'inotify');
  const sw = (name: string, def: boolean): boolean => {
    const n = first(ino, name);
    return n ? on(n) : def;
  };
  const events = {
    delete: sw('delete', true),
    create: sw('createFolder', true) || sw('createFile', false) || sw('closeWrite', true) || sw('moveTo', true),
    modify: sw('closeWrite', true) || sw('modify', false) || sw('attrib', false),
  };
  if (ino) {
    if (!sw('moveFrom', true) && events.delete) warnings.push('<moveFrom start="false">: the watcher reports a move out as a deletion; it follows <delete>');
    if (sw('attrib', false) !== sw('modify', false) || sw('closeWrite', true) !== sw('modify', false)) {
      warnings.push('<closeWrite>/<modify>/<attrib>: the recursive watcher does not tell these apart; content and attribute changes are all pushed when any of them is on');
    }
    if (sw('createFile', false) !== sw('createFolder', true)) {
      warnings.push('<createFile>/<createFolder>: file and directory creation are one switch here (events.create)');
    }
  }

  const sersync = first(head, 'sersync');
  if (!sersync) throw new Error('not a sersync confxml.xml: no <sersync> element');
  const rsync = first(sersync, 'rsync');
  let params = attr(first(rsync, 'commonParams'), 'params') ?? '-artuz';
  const withoutU = dropUpdateOption(params);
  if (withoutU !== null && !options.keepUpdate) {
    warnings.push(`<commonParams params="${params}">: dropped -u, now "${withoutU}": with -u rsync skips files that are newer on the target, so restoring an older version (mv, cp -p, tar x) is never pushed and the target keeps the newer file; the agent is the source of truth for its targets. Keep it with --keep-update`);
    params = withoutU;
  } else if (withoutU !== null) {
    warnings.push(`<commonParams params="${params}">: kept -u (--keep-update): restored older files will not be pushed`);
  }
  const auth = first(rsync, 'auth');
  const user = on(auth) ? attr(auth, 'users') : undefined;
  const passwordFile = on(auth) ? attr(auth, 'passwordfile') : undefined;
  if (user && user.includes(',')) warnings.push(`<auth users="${user}">: only one user is used per remote; took the first`);
  const portNode = first(rsync, 'userDefinedPort');
  const port = on(portNode) ? Number(attr(portNode, 'port')) : 873;
  const timeoutNode = first(rsync, 'timeout');
  const timeoutSec = on(timeoutNode) ? Number(attr(timeoutNode, 'time')) : 0;
  if (on(first(rsync, 'ssh'))) warnings.push('<ssh start="true">: rsync over ssh is not supported; the agent pushes to rsync daemon modules');

  const failLog = first(sersync, 'failLog');
  if (failLog) {
    warnings.push(`<failLog path="${attr(failLog, 'path') ?? ''}" timeToExecute="${attr(failLog, 'timeToExecute') ?? ''}">: replaced by the durable per-target journal; failed pushes are retried with backoff (retry.*) instead of a script re-run every timeToExecute minutes`);
  }

  const crontab = first(sersync, 'crontab');
  const fullSync: Record<string, unknown> = {};
  const fullSyncExcludes: string[] = [];
  if (on(crontab)) {
    const minutes = Number(attr(crontab, 'schedule') ?? '600');
    fullSync.intervalSec = minutes * 60;
    const cf = first(crontab, 'crontabfilter');
    if (on(cf)) for (const ex of list(cf, 'exclude')) {
      const e = attr(ex, 'expression');
      if (e) fullSyncExcludes.push(e); // crontabfilter expressions are rsync-style wildcards already
    }
  }

  const plugin = first(sersync, 'plugin');
  if (on(plugin)) warnings.push(`<plugin start="true" name="${attr(plugin, 'name') ?? ''}">: plugins are not supported`);
  const pluginNames = list(head, 'plugin').map((p) => attr(p, 'name') ?? '?');
  if (pluginNames.length > 0) warnings.push(`plugin sections (${pluginNames.join(', ')}): not imported; the agent has no plugins`);

  const watches: Record<string, unknown>[] = [];
  for (const lp of list(sersync, 'localpath')) {
    const watch = attr(lp, 'watch');
    if (!watch) {
      warnings.push('<localpath> without watch attribute: skipped');
      continue;
    }
    const remotes = list(lp, 'remote').map((r) => {
      const rc: Record<string, unknown> = { host: attr(r, 'ip') ?? '', port, module: attr(r, 'name') ?? '' };
      if (user) rc.user = user.split(',')[0].trim();
      if (passwordFile) rc.passwordFile = passwordFile;
      return rc;
    });
    const w: Record<string, unknown> = {
      path: watch.length > 1 ? watch.replace(/\/+$/, '') : watch,
      remotes,
      rsyncParams: params,
      excludeRegex: [...excludeRegex],
      events: { ...events },
    };
    if (fullSyncExcludes.length) w.fullSyncExcludes = [...fullSyncExcludes];
    watches.push(w);
  }
  if (watches.length === 0) throw new Error('no <localpath watch="..."> in <sersync>');
  // sersync has no encryption: the import keeps its plaintext daemon pushes (nothing else would connect), and says so.
  const remoteCount = watches.reduce((n, w) => n + (w.remotes as unknown[]).length, 0);
  if (remoteCount > 0) {
    warnings.push(`${remoteCount} remote(s) imported as plaintext rsync (port ${port}), as sersync pushed them: file contents and the user name cross the network unencrypted. ` +
      "To encrypt, give each remote tls: true, the server's TLS port (port: 8874 for RsyncHub, 874 for rsync-ssl setups) and fingerprint: sha256:... (from the console's Encryption page) or caFile: /path/ca.pem");
  }

  const config: Record<string, unknown> = { watches };
  if (timeoutSec > 0) config.timeoutSec = timeoutSec;
  if (Object.keys(fullSync).length) config.fullSync = fullSync;
  if (debug) config.logLevel = 'debug';
  return { config, warnings };
}
