import type { ConnectTarget } from './connect-snippets';
import { agentTlsConfig, caFileCommand, rsyncSslCommand, rsyncSslPullCommand, type TlsTarget } from './tls-snippets';

const target: ConnectTarget = { host: 'hub.example', port: 8873, module: 'myhub1', user: 'admin1', source: '/home/user1/source', hubUrl: 'https://hub.example' };
const tls: TlsTarget = { port: 8874, fingerprint: 'sha256:' + 'ab'.repeat(32), privateCa: true };

describe('TLS connect snippets', () => {
  const commands: [string, ConnectTarget, TlsTarget, string][] = [
    ['private CA, our default port', target, tls, 'RSYNC_SSL_CA_CERT=/etc/rsynchub-ca.pem RSYNC_SSL_PORT=8874 rsync-ssl -artuz --password-file=/etc/rsync.pass /home/user1/source/ admin1@hub.example::myhub1'],
    ['rsync-ssl default port 874: no RSYNC_SSL_PORT', target, { ...tls, port: 874 }, 'RSYNC_SSL_CA_CERT=/etc/rsynchub-ca.pem rsync-ssl -artuz --password-file=/etc/rsync.pass /home/user1/source/ admin1@hub.example::myhub1'],
    ['provided certificate (public CA): the system trust store, no CA file', target, { ...tls, privateCa: false, port: 874 }, 'rsync-ssl -artuz --password-file=/etc/rsync.pass /home/user1/source/ admin1@hub.example::myhub1'],
    ['anonymous module, source with a space', { ...target, user: null, source: '/data/my files' }, tls, "RSYNC_SSL_CA_CERT=/etc/rsynchub-ca.pem RSYNC_SSL_PORT=8874 rsync-ssl -artuz '/data/my files/' hub.example::myhub1"],
  ];
  for (const [name, t, l, expected] of commands) it(name, () => expect(rsyncSslCommand(t, l)).toBe(expected));

  it('pulls a read-only module', () => {
    expect(rsyncSslPullCommand(target, tls)).toBe('RSYNC_SSL_CA_CERT=/etc/rsynchub-ca.pem RSYNC_SSL_PORT=8874 rsync-ssl -artuz --password-file=/etc/rsync.pass admin1@hub.example::myhub1/ /home/user1/source/');
  });

  it('writes the CA file with a quoted here-document (nothing in it is expanded)', () => {
    expect(caFileCommand('-----BEGIN CERTIFICATE-----\nMIIB$x\n-----END CERTIFICATE-----\n')).toBe(
      "cat > /etc/rsynchub-ca.pem <<'EOF'\n-----BEGIN CERTIFICATE-----\nMIIB$x\n-----END CERTIFICATE-----\nEOF",
    );
  });

  it('gives the agent a TLS remote with the TLS port and the pinned fingerprint (t11-agent config shape)', () => {
    const cfg = JSON.parse(agentTlsConfig({ ...target, agentName: 'web01' }, tls));
    expect(cfg.name).toBe('web01');
    expect(cfg.watches[0].remotes).toEqual([
      { host: 'hub.example', port: 8874, module: 'myhub1', user: 'admin1', passwordFile: '/etc/rsync.pass', tls: true, fingerprint: tls.fingerprint },
    ]);
    expect(cfg.heartbeat.url).toBe('https://hub.example');
  });

  it('falls back to the CA file (host name verified) when no fingerprint is known', () => {
    const cfg = JSON.parse(agentTlsConfig(target, { ...tls, fingerprint: null }));
    expect(cfg.watches[0].remotes[0]).toMatchObject({ tls: true, caFile: '/etc/rsynchub-ca.pem' });
    expect(cfg.watches[0].remotes[0].fingerprint).toBeUndefined();
  });
});
