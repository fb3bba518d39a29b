import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import type { NetworkInterfaceInfo } from 'node:os';
import { compactFingerprint, createCa, describeCertificate, issueServerCertificate, normaliseIp, reissueReason, serverNames, splitNames } from './certificates';

const iface = (address: string, family: 'IPv4' | 'IPv6', internal = false) => ({ address, family, internal }) as NetworkInterfaceInfo;

describe('certificate names', () => {
  const cases: [string, Parameters<typeof serverNames>, string[]][] = [
    ['no public host: host name, localhost and every address', ['', 'box', { lo: [iface('127.0.0.1', 'IPv4', true), iface('::1', 'IPv6', true)], eth0: [iface('192.0.2.7', 'IPv4')] }], ['box', 'localhost', '127.0.0.1', '192.0.2.7', '::1']],
    ['public host name first among DNS names, lower-cased, trailing dot dropped', ['Hub.Example.org.', 'box', { eth0: [iface('192.0.2.7', 'IPv4')] }], ['box', 'hub.example.org', 'localhost', '192.0.2.7']],
    ['public host that is an address goes to the IP list, once', ['192.0.2.7', 'box', { eth0: [iface('192.0.2.7', 'IPv4')] }], ['box', 'localhost', '192.0.2.7']],
    ['link-local IPv6 (zoned) left out', ['', 'box', { eth0: [iface('fe80::1', 'IPv6'), iface('2001:db8::5', 'IPv6')] }], ['box', 'localhost', '2001:db8::5']],
  ];
  for (const [name, args, expected] of cases) test(name, () => assert.deepEqual(serverNames(...args), expected));

  test('splitNames sorts DNS names and addresses apart and drops blanks', () => {
    assert.deepEqual(splitNames([' ', 'b.example', '10.0.0.1', 'A.example', '10.0.0.1']), { dns: ['a.example', 'b.example'], ip: ['10.0.0.1'] });
  });

  const ips: [string, string][] = [
    ['::1', '0:0:0:0:0:0:0:1'],
    ['2001:DB8::5', '2001:db8:0:0:0:0:0:5'],
    ['fd00:0001::', 'fd00:1:0:0:0:0:0:0'],
    ['192.0.2.1', '192.0.2.1'],
  ];
  for (const [input, expected] of ips) test(`normaliseIp ${input}`, () => assert.equal(normaliseIp(input), expected));
});

describe('private CA and server certificate', () => {
  test('the server certificate chains to the CA, names every SAN and is not a CA itself', async () => {
    const ca = await createCa({ commonName: 'RsyncHub test CA' });
    const server = await issueServerCertificate({ ca, names: ['hub.example.org', 'localhost', '127.0.0.1', '::1'] });
    const caCert = new crypto.X509Certificate(ca.certPem);
    const cert = new crypto.X509Certificate(server.certPem);
    assert.ok(caCert.ca, 'CA certificate has basicConstraints CA:TRUE');
    assert.ok(caCert.verify(caCert.publicKey), 'CA is self-signed');
    assert.ok(cert.verify(caCert.publicKey), 'server certificate signed by the CA key');
    assert.ok(cert.checkIssued(caCert));
    assert.equal(cert.ca, false);
    assert.equal(cert.checkHost('hub.example.org'), 'hub.example.org');
    assert.equal(cert.checkHost('localhost'), 'localhost');
    assert.equal(cert.checkHost('other.example.org'), undefined);
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkIP('::1'), '::1');
    assert.equal(cert.checkIP('10.9.9.9'), undefined);
    // The key in the file is the one the certificate names.
    assert.ok(cert.checkPrivateKey(crypto.createPrivateKey(server.keyPem)));
    const info = describeCertificate(server.certPem);
    assert.deepEqual(info.dnsNames, ['hub.example.org', 'localhost']);
    assert.deepEqual(info.ipAddresses, ['127.0.0.1', '::1']);
    assert.equal(info.fingerprint256, cert.fingerprint256);
    // Addresses are DNS entries too, for openssl's -verify_hostname (rsync-ssl USER@ADDRESS::MODULE).
    assert.match(cert.subjectAltName ?? '', /DNS:127\.0\.0\.1/);
    assert.match(compactFingerprint(info.fingerprint256), /^sha256:[0-9a-f]{64}$/);
  });

  test('explicit validity makes an expired certificate (what the expiry test serves)', async () => {
    const ca = await createCa({ commonName: 'RsyncHub test CA' });
    const server = await issueServerCertificate({ ca, names: ['localhost'], notBefore: new Date(Date.now() - 2 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    assert.ok(describeCertificate(server.certPem).notAfter.getTime() < Date.now());
  });

  test('reissueReason: a missing name, an IPv6 address in another spelling, or near expiry', async () => {
    const ca = await createCa({ commonName: 'RsyncHub test CA' });
    const info = describeCertificate((await issueServerCertificate({ ca, names: ['localhost', '::1', '10.0.0.1'], validDays: 100 })).certPem);
    assert.equal(reissueReason(info, ['localhost', '0:0::1', '10.0.0.1']), null);
    assert.equal(reissueReason(info, ['localhost', 'hub.example.org']), 'names added: hub.example.org');
    assert.equal(reissueReason(info, ['10.0.0.2']), 'names added: 10.0.0.2');
    assert.match(reissueReason(info, ['localhost'], new Date(Date.now() + 80 * 86_400_000)) ?? '', /^expires /);
  });
});
