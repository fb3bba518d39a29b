/** The copy-paste snippets that connect a source machine to one module. Pure, so they are unit-tested as text. */
export interface ConnectTarget {
  host: string;
  port: number;
  module: string;
  /** Rsync user granted on the module; null for an anonymous module. */
  user: string | null;
  /** Local directory on the source machine. */
  source: string;
  passwordFile?: string;
  /** The hub's URL, for the agent's heartbeat. */
  hubUrl?: string;
  /** The agent's source name (must match a source token bound to a name). */
  agentName?: string;
}

export const DEFAULT_PASSWORD_FILE = '/etc/rsync.pass';

/** Quotes a word for sh only when it needs it. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:@=+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function sourceDir(source: string): string {
  const s = source.trim() || '/data/source';
  return s.endsWith('/') ? s : `${s}/`;
}

function remote(t: ConnectTarget): string {
  const host = t.host.includes(':') && !t.host.startsWith('[') ? `[${t.host}]` : t.host;
  return `${t.user ? `${t.user}@` : ''}${host}::${t.module}`;
}

/** `rsync -artuz --password-file=/etc/rsync.pass SRC/ USER@HOST::MODULE --port=PORT` */
export function rsyncCommand(t: ConnectTarget): string {
  const pw = t.user ? ` --password-file=${shellQuote(t.passwordFile ?? DEFAULT_PASSWORD_FILE)}` : '';
  return `rsync -artuz${pw} ${shellQuote(sourceDir(t.source))} ${shellQuote(remote(t))} --port=${t.port}`;
}

/**
 * For a read-only module: `rsync -artuz --password-file=/etc/rsync.pass USER@HOST::MODULE/ DEST/ --port=PORT`
 * (a push would be refused by the daemon, so the panel offers the pull instead).
 */
export function rsyncPullCommand(t: ConnectTarget): string {
  const pw = t.user ? ` --password-file=${shellQuote(t.passwordFile ?? DEFAULT_PASSWORD_FILE)}` : '';
  return `rsync -artuz${pw} ${shellQuote(`${remote(t)}/`)} ${shellQuote(sourceDir(t.source))} --port=${t.port}`;
}

/** The agent's 0600 token file holding a `source`-scoped API token (it can only send heartbeats, but still is a secret). */
export function agentTokenFileCommand(token = 'TOKEN', file = DEFAULT_AGENT_TOKEN_FILE): string {
  return `echo '${token.replace(/'/g, `'\\''`)}' > ${shellQuote(file)} && chmod 600 ${shellQuote(file)}`;
}

export const DEFAULT_AGENT_TOKEN_FILE = '/etc/rsynchub-agent.token';

/** The 0600 password file rsync insists on (it refuses a file others can read). */
export function passwordFileCommand(password = 'PASSWORD', file = DEFAULT_PASSWORD_FILE): string {
  return `echo '${password.replace(/'/g, `'\\''`)}' > ${shellQuote(file)} && chmod 600 ${shellQuote(file)}`;
}

/** A ready rsynchub-agent config (JSON) watching `source` and pushing to this module. */
export function agentConfig(t: ConnectTarget): string {
  const remoteCfg: Record<string, unknown> = { host: t.host, port: t.port, module: t.module };
  if (t.user) {
    remoteCfg['user'] = t.user;
    remoteCfg['passwordFile'] = t.passwordFile ?? DEFAULT_PASSWORD_FILE;
  }
  const cfg: Record<string, unknown> = {
    ...(t.agentName ? { name: t.agentName } : {}),
    watches: [
      {
        path: sourceDir(t.source).replace(/\/$/, '') || '/',
        remotes: [remoteCfg],
        rsyncParams: ['-artuz'],
        excludes: [],
        events: { create: true, modify: true, delete: true },
      },
    ],
    fullSync: { onStart: true, intervalSec: 0 },
  };
  if (t.hubUrl) cfg['heartbeat'] = { url: t.hubUrl, tokenFile: DEFAULT_AGENT_TOKEN_FILE, intervalSec: 30 };
  return JSON.stringify(cfg, null, 2);
}

function xmlAttr(v: string): string {
  return v.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * A complete sersync 2.5 confxml.xml pointing at this module: the stock file's structure and defaults, so it can
 * replace the file as is (sersync and `rsynchub-agent --from-sersync` both read it).
 */
export function sersyncConfXml(t: ConnectTarget): string {
  const auth = t.user
    ? `<auth start="true" users="${xmlAttr(t.user)}" passwordfile="${xmlAttr(t.passwordFile ?? DEFAULT_PASSWORD_FILE)}"/>`
    : `<auth start="false" users="root" passwordfile="/etc/rsync.pas"/>`;
  return [
    `<?xml version="1.0" encoding="ISO-8859-1"?>`,
    `<head version="2.5">`,
    `    <host hostip="localhost" port="8008"></host>`,
    `    <debug start="false"/>`,
    `    <fileSystem xfs="false"/>`,
    `    <filter start="false">`,
    `        <exclude expression="(.*)\.svn"></exclude>`,
    `    </filter>`,
    `    <inotify>`,
    `        <delete start="true"/>`,
    `        <createFolder start="true"/>`,
    `        <createFile start="false"/>`,
    `        <closeWrite start="true"/>`,
    `        <moveFrom start="true"/>`,
    `        <moveTo start="true"/>`,
    `        <attrib start="false"/>`,
    `        <modify start="false"/>`,
    `    </inotify>`,
    `    <sersync>`,
    `        <localpath watch="${xmlAttr(sourceDir(t.source).replace(/\/$/, ''))}">`,
    `            <remote ip="${xmlAttr(t.host)}" name="${xmlAttr(t.module)}"/>`,
    `        </localpath>`,
    `        <rsync>`,
    `            <commonParams params="-artuz"/>`,
    `            ${auth}`,
    `            <userDefinedPort start="${t.port === 873 ? 'false' : 'true'}" port="${t.port}"/>`,
    `            <timeout start="false" time="100"/>`,
    `            <ssh start="false"/>`,
    `        </rsync>`,
    `        <failLog path="/tmp/rsync_fail_log.sh" timeToExecute="60"/>`,
    `        <crontab start="false" schedule="600">`,
    `            <crontabfilter start="false"></crontabfilter>`,
    `        </crontab>`,
    `        <plugin start="false" name="command"/>`,
    `    </sersync>`,
    `</head>`,
  ].join('\n');
}
