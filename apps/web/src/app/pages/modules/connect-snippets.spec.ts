import { agentConfig, agentTokenFileCommand, passwordFileCommand, rsyncCommand, rsyncPullCommand, sersyncConfXml, shellQuote, type ConnectTarget } from './connect-snippets';

const target: ConnectTarget = { host: 'hub.example', port: 8730, module: 'myhub1', user: 'admin1', source: '/home/user1/source', hubUrl: 'https://hub.example' };

describe('connect snippets', () => {
  it('builds the exact rsync client command', () => {
    expect(rsyncCommand(target)).toBe('rsync -artuz --password-file=/etc/rsync.pass /home/user1/source/ admin1@hub.example::myhub1 --port=8730');
  });

  const commands: [Partial<ConnectTarget>, string][] = [
    [{ user: null }, 'rsync -artuz /home/user1/source/ hub.example::myhub1 --port=8730'],
    [{ source: '/data/my files/' }, "rsync -artuz --password-file=/etc/rsync.pass '/data/my files/' admin1@hub.example::myhub1 --port=8730"],
    [{ host: '::1' }, "rsync -artuz --password-file=/etc/rsync.pass /home/user1/source/ 'admin1@[::1]::myhub1' --port=8730"], // brackets quoted: zsh would glob them,
    [{ source: '' }, 'rsync -artuz --password-file=/etc/rsync.pass /data/source/ admin1@hub.example::myhub1 --port=8730'],
  ];
  for (const [change, expected] of commands) {
    it(`command with ${JSON.stringify(change)}`, () => expect(rsyncCommand({ ...target, ...change })).toBe(expected));
  }

  it('quotes for sh only when needed', () => {
    expect(shellQuote('/etc/rsync.pass')).toBe('/etc/rsync.pass');
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });

  it('makes the 0600 password file', () => {
    expect(passwordFileCommand()).toBe("echo 'PASSWORD' > /etc/rsync.pass && chmod 600 /etc/rsync.pass");
    expect(passwordFileCommand("a'b")).toBe(`echo 'a'\\''b' > /etc/rsync.pass && chmod 600 /etc/rsync.pass`);
  });

  it('writes an agent config the agent accepts (shape of apps/agent/src/config.ts)', () => {
    const cfg = JSON.parse(agentConfig(target));
    expect(cfg.watches).toEqual([
      {
        path: '/home/user1/source',
        remotes: [{ host: 'hub.example', port: 8730, module: 'myhub1', user: 'admin1', passwordFile: '/etc/rsync.pass' }],
        rsyncParams: ['-artuz'],
        excludes: [],
        events: { create: true, modify: true, delete: true },
      },
    ]);
    expect(cfg.heartbeat).toEqual({ url: 'https://hub.example', tokenFile: '/etc/rsynchub-agent.token', intervalSec: 30 });
    expect(JSON.parse(agentConfig({ ...target, user: null })).watches[0].remotes[0]).toEqual({ host: 'hub.example', port: 8730, module: 'myhub1' });
  });

  it('writes a complete sersync confxml.xml with escaped attributes and the custom port', () => {
    const xml = sersyncConfXml({ ...target, source: '/src/a&b' });
    expect(xml.startsWith('<?xml version="1.0" encoding="ISO-8859-1"?>\n<head version="2.5">')).toBe(true);
    expect(xml.trimEnd().endsWith('</head>')).toBe(true);
    expect(new DOMParser().parseFromString(xml, 'application/xml').querySelector('parsererror')).toBeNull();
    expect(xml).toContain('<localpath watch="/src/a&amp;b">');
    expect(xml).toContain('<remote ip="hub.example" name="myhub1"/>');
    expect(xml).toContain('<auth start="true" users="admin1" passwordfile="/etc/rsync.pass"/>');
    expect(xml).toContain('<userDefinedPort start="true" port="8730"/>');
    expect(sersyncConfXml({ ...target, port: 873 })).toContain('<userDefinedPort start="false" port="873"/>');
  });
});

describe('connect snippets for read-only modules and the agent token', () => {
  it('pulls from a read-only module instead of pushing into it', () => {
    expect(rsyncPullCommand(target)).toBe('rsync -artuz --password-file=/etc/rsync.pass admin1@hub.example::myhub1/ /home/user1/source/ --port=8730');
    expect(rsyncPullCommand({ ...target, user: null, source: '/srv/copy' })).toBe('rsync -artuz hub.example::myhub1/ /srv/copy/ --port=8730');
  });

  it('stores the source token in a 0600 file the agent config points at', () => {
    expect(agentTokenFileCommand('rht_abc')).toBe("echo 'rht_abc' > /etc/rsynchub-agent.token && chmod 600 /etc/rsynchub-agent.token");
    expect(JSON.parse(agentConfig(target)).heartbeat.tokenFile).toBe('/etc/rsynchub-agent.token');
  });
});
