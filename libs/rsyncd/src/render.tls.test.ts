import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DaemonSettingsDto } from '@rsynchub/contracts';
import { RsyncdConfigError, renderRsyncdConf, type RenderInput } from './render';
import { parseRsyncdConf } from './parse';
import { validateModule } from './validate';
import { baseModule } from './testing';

const settings: DaemonSettingsDto = {
  port: 8730,
  address: '0.0.0.0',
  motd: '',
  maxConnections: 0,
  timeout: 0,
  reverseLookup: false,
  hostsAllow: [],
  hostsDeny: [],
};
const paths = {
  secretsFile: '/var/lib/rsynchub/rsyncd.secrets',
  pidFile: '/var/lib/rsynchub/rsyncd.pid',
  lockDir: '/var/lib/rsynchub/locks',
  logFile: '/var/lib/rsynchub/rsyncd.log',
};
const grant = { users: [{ name: 'deploy', access: 'rw' as const }], anonymous: 'none' as const };

function render(over: Partial<RenderInput>) {
  const { text } = renderRsyncdConf({ settings, modules: [baseModule(grant)], runningAsRoot: false, paths, roots: ['/data/modules'], ...over });
  return { text, parsed: parseRsyncdConf(text) };
}

function moduleParams(text: string, name: string): Record<string, string> {
  const section = parseRsyncdConf(text).modules.find((m) => m.name === name);
  assert.ok(section, `module [${name}] rendered`);
  return section.params;
}

describe('renderRsyncdConf: the TLS daemon and tlsOnly modules', () => {
  const cases: {
    name: string;
    input: Partial<RenderInput>;
    globals: Record<string, string | undefined>;
    module: Record<string, string | undefined>;
  }[] = [
    {
      name: 'plain daemon, ordinary module: no proxy protocol, module open as configured',
      input: {},
      globals: { 'proxy protocol': undefined, 'proxy protocol hosts': undefined },
      module: { 'auth users': 'deploy:rw', 'hosts deny': undefined, 'read only': 'no', list: 'yes' },
    },
    {
      name: 'plain daemon, tlsOnly module: closed to every address, read only, no users named, listed as asked',
      input: { modules: [baseModule({ ...grant, tlsOnly: true })] },
      globals: { 'proxy protocol': undefined },
      module: { 'hosts allow': '', 'hosts deny': '*', list: 'yes', 'read only': 'yes', 'auth users': undefined },
    },
    {
      name: 'plain daemon, unlisted tlsOnly module stays unlisted',
      input: { modules: [baseModule({ ...grant, tlsOnly: true, list: false })] },
      globals: {},
      module: { 'hosts allow': '', 'hosts deny': '*', list: 'no' },
    },
    {
      name: 'plain daemon, tlsOnly module under a global allow list: the empty module list overrides it',
      input: { settings: { ...settings, hostsAllow: ['10.0.0.0/8'] }, modules: [baseModule({ ...grant, tlsOnly: true })] },
      globals: { 'hosts allow': '10.0.0.0/8' },
      module: { 'hosts allow': '', 'hosts deny': '*' },
    },
    {
      name: 'TLS daemon: proxy protocol only from the listener, ordinary module as configured',
      input: { transport: 'tls', proxyProtocolHosts: ['127.0.0.1'] },
      globals: { 'proxy protocol': 'yes', 'proxy protocol hosts': '127.0.0.1' },
      module: { 'auth users': 'deploy:rw', 'hosts deny': undefined, list: 'yes' },
    },
    {
      name: 'TLS daemon, tlsOnly module: open as configured (it is what tlsOnly is for)',
      input: { transport: 'tls', proxyProtocolHosts: ['127.0.0.1', '::1'], modules: [baseModule({ ...grant, tlsOnly: true })] },
      globals: { 'proxy protocol hosts': '127.0.0.1 ::1' },
      module: { 'auth users': 'deploy:rw', 'hosts allow': undefined, 'hosts deny': undefined, list: 'yes', 'read only': 'no' },
    },
    {
      name: 'plain daemon, tlsClientCert module: closed to every address (it implies tlsOnly)',
      input: { modules: [baseModule({ ...grant, tlsClientCert: true })] },
      globals: { 'proxy protocol': undefined },
      module: { 'hosts allow': '', 'hosts deny': '*', 'read only': 'yes', 'auth users': undefined },
    },
    {
      name: 'TLS daemon without a verified client certificate, tlsClientCert module: closed to every address',
      input: { transport: 'tls', proxyProtocolHosts: ['127.0.0.1'], modules: [baseModule({ ...grant, tlsClientCert: true })] },
      globals: { 'proxy protocol': 'yes' },
      module: { 'hosts allow': '', 'hosts deny': '*', 'read only': 'yes', 'auth users': undefined, list: 'yes' },
    },
    {
      name: 'TLS daemon without a verified client certificate, tlsClientCert + tlsOnly module: still closed',
      input: { transport: 'tls', proxyProtocolHosts: ['127.0.0.1'], modules: [baseModule({ ...grant, tlsOnly: true, tlsClientCert: true, list: false })] },
      globals: {},
      module: { 'hosts allow': '', 'hosts deny': '*', list: 'no', 'auth users': undefined },
    },
    {
      name: 'TLS daemon for verified client certificates, tlsClientCert module: open as configured',
      input: { transport: 'tls', proxyProtocolHosts: ['127.0.0.1'], clientCertVerified: true, modules: [baseModule({ ...grant, tlsClientCert: true })] },
      globals: { 'proxy protocol': 'yes', 'proxy protocol hosts': '127.0.0.1' },
      module: { 'auth users': 'deploy:rw', 'hosts allow': undefined, 'hosts deny': undefined, 'read only': 'no' },
    },
    {
      name: 'TLS daemon for verified client certificates, ordinary and tlsOnly modules: open as configured',
      input: { transport: 'tls', proxyProtocolHosts: ['127.0.0.1'], clientCertVerified: true, modules: [baseModule({ ...grant, tlsOnly: true })] },
      globals: {},
      module: { 'auth users': 'deploy:rw', 'hosts deny': undefined },
    },
    {
      name: 'plain daemon told clientCertVerified (a caller mistake): tlsClientCert module still closed',
      input: { clientCertVerified: true, modules: [baseModule({ ...grant, tlsClientCert: true })] },
      globals: { 'proxy protocol': undefined },
      module: { 'hosts allow': '', 'hosts deny': '*', 'auth users': undefined },
    },
    {
      name: 'TLS daemon with bans: the bans apply there too (the real client address arrives in the PROXY header)',
      input: { transport: 'tls', proxyProtocolHosts: ['127.0.0.1'], bans: ['203.0.113.9'] },
      globals: {},
      module: { 'hosts deny': '203.0.113.9' },
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const { text, parsed } = render(c.input);
      const globals = parsed.global;
      assert.deepEqual(parsed.problems, []);
      for (const [k, v] of Object.entries(c.globals)) assert.equal(globals[k], v, `global ${k}`);
      const mod = moduleParams(text, 'backup');
      for (const [k, v] of Object.entries(c.module)) assert.equal(mod[k], v, `module ${k}`);
    });
  }

  const refused: { name: string; input: Partial<RenderInput>; field: string }[] = [
    { name: 'TLS daemon without proxy protocol hosts', input: { transport: 'tls' }, field: 'proxyProtocolHosts' },
    { name: 'TLS daemon with an empty hosts list', input: { transport: 'tls', proxyProtocolHosts: [] }, field: 'proxyProtocolHosts' },
    { name: 'proxy host that is not an address', input: { transport: 'tls', proxyProtocolHosts: ['*'] }, field: 'proxyProtocolHosts[0]' },
    { name: 'proxy host with an injected line', input: { transport: 'tls', proxyProtocolHosts: ['127.0.0.1\n[evil]'] }, field: 'proxyProtocolHosts[0]' },
  ];
  for (const c of refused) {
    test(`refuses: ${c.name}`, () => {
      assert.throws(
        () => render(c.input),
        (err: unknown) => err instanceof RsyncdConfigError && err.issues.some((i) => i.field === c.field),
      );
    });
  }

  test('tlsClientCert must be a boolean when given', () => {
    const errors = validateModule({ ...baseModule(grant), tlsClientCert: 1 as unknown as boolean }, { roots: ['/data/modules'] });
    assert.deepEqual(errors.map((e) => e.field), ['tlsClientCert']);
    assert.deepEqual(validateModule({ ...baseModule(grant), tlsClientCert: true }, { roots: ['/data/modules'] }), []);
  });

  test('tlsOnly must be a boolean when given', () => {
    const errors = validateModule({ ...baseModule(grant), tlsOnly: 'yes' as unknown as boolean }, { roots: ['/data/modules'] });
    assert.deepEqual(errors.map((e) => e.field), ['tlsOnly']);
    assert.deepEqual(validateModule({ ...baseModule(grant), tlsOnly: true }, { roots: ['/data/modules'] }), []);
  });
});
