// @peculiar/x509 resolves its parts through tsyringe, which needs the Reflect metadata API loaded first.
import 'reflect-metadata';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { createCa } from './certificates';

import W = crypto.webcrypto;
import { allowedFingerprintsText, checkCsr, clientCertRequestIssues, issueClientCertificate } from './client-certificates';

describe('client certificate requests: field rules', () => {
  const cases: [string, unknown, string[]][] = [
    ['a plain name', { name: 'web01' }, []],
    ['name with every allowed character, 64 long', { name: `${'a'.repeat(60)}.-_9` }, []],
    ['name, csr and days', { name: 'x', csr: '-----BEGIN CERTIFICATE REQUEST-----', days: 3650 }, []],
    ['no body', undefined, ['name']],
    ['name missing', { days: 5 }, ['name']],
    ['name empty', { name: '' }, ['name']],
    ['name of 65', { name: 'a'.repeat(65) }, ['name']],
    ['name with a newline', { name: 'a\nb' }, ['name']],
    ['name with a trailing newline', { name: 'ab\n' }, ['name']],
    ['name with ]', { name: 'a]' }, ['name']],
    ['name with a space', { name: 'a b' }, ['name']],
    ['name with %', { name: '%HOME%' }, ['name']],
    ['name with a backslash', { name: 'a\\' }, ['name']],
    ['name ..', { name: '..' }, ['name']],
    ['name of another type', { name: ['a'] }, ['name']],
    ['days 0', { name: 'a', days: 0 }, ['days']],
    ['days negative', { name: 'a', days: -1 }, ['days']],
    ['days 3651', { name: 'a', days: 3651 }, ['days']],
    ['days fractional', { name: 'a', days: 2.5 }, ['days']],
    ['days text', { name: 'a', days: '5' }, ['days']],
    ['days NaN', { name: 'a', days: Number.NaN }, ['days']],
    ['csr of another type', { name: 'a', csr: 5 }, ['csr']],
    ['csr too long', { name: 'a', csr: 'x'.repeat(16_385) }, ['csr']],
    ['an unknown field', { name: 'a', privateKey: 'x' }, ['privateKey']],
  ];
  for (const [name, body, fields] of cases) {
    test(name, () => assert.deepEqual(clientCertRequestIssues(body).map((i) => i.field), fields));
  }
});

describe('checkCsr and issueClientCertificate', () => {
  async function csr(algorithm: W.RsaHashedKeyGenParams | W.EcKeyGenParams, signing: W.Algorithm | W.EcdsaParams): Promise<{ pem: string; keys: W.CryptoKeyPair }> {
    const keys = (await crypto.webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as W.CryptoKeyPair;
    const req = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=asked-for, O=Evil', keys, signingAlgorithm: signing });
    return { pem: req.toString('pem'), keys };
  }
  const P256 = { name: 'ECDSA', namedCurve: 'P-256' } as W.EcKeyGenParams;
  const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as W.EcdsaParams;

  test('a P-256 request: its key goes into a clientAuth certificate named by the issuer, not by the request', async () => {
    const ca = await createCa({ commonName: 'Test CA' });
    const { pem, keys } = await csr(P256, ECDSA_SHA256);
    const checked = await checkCsr(pem);
    assert.ok(checked.ok);
    const issued = await issueClientCertificate({ ca, name: 'web01', publicKey: checked.publicKey, days: 10 });
    assert.equal(issued.privateKey, undefined);
    const cert = new crypto.X509Certificate(issued.certificate);
    assert.equal(cert.subject, 'CN=web01\nO=RsyncHub');
    assert.ok(cert.checkIssued(new crypto.X509Certificate(ca.certPem)));
    assert.ok(cert.verify(new crypto.X509Certificate(ca.certPem).publicKey));
    assert.ok(cert.checkPrivateKey(crypto.KeyObject.from(keys.privateKey)));
    assert.equal(cert.ca, false);
    const eku = new x509.X509Certificate(issued.certificate).getExtension(x509.ExtendedKeyUsageExtension);
    assert.deepEqual([...(eku?.usages ?? [])], [x509.ExtendedKeyUsage.clientAuth]);
    assert.equal(issued.fingerprint, `sha256:${cert.fingerprint256.replace(/:/g, '').toLowerCase()}`);
    assert.equal(issued.serial, cert.serialNumber.toLowerCase());
    const days = (issued.notAfter.getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 9.9 && days <= 10, `${days} days`);
  });

  test('without a key: a fresh P-256 pair, the key returned and matching', async () => {
    const ca = await createCa({ commonName: 'Test CA' });
    const issued = await issueClientCertificate({ ca, name: 'web02' });
    assert.ok(issued.privateKey);
    const key = crypto.createPrivateKey(issued.privateKey);
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.ok(new crypto.X509Certificate(issued.certificate).checkPrivateKey(key));
  });

  const refusedCsrs: [string, () => Promise<string>, RegExp][] = [
    ['not PEM', async () => 'hello', /PEM certificate request/],
    ['a certificate', async () => (await createCa({ commonName: 'x' })).certPem, /PEM certificate request/],
    ['PEM armour around garbage', async () => `-----BEGIN CERTIFICATE REQUEST-----\n${crypto.randomBytes(200).toString('base64')}\n-----END CERTIFICATE REQUEST-----`, /cannot be read/],
    ['two requests in one', async () => { const a = (await csr(P256, ECDSA_SHA256)).pem; return `${a}\n${a}`; }, /PEM certificate request/],
    ['a P-521 key', async () => (await csr({ name: 'ECDSA', namedCurve: 'P-521' } as W.EcKeyGenParams, { name: 'ECDSA', hash: 'SHA-512' } as W.EcdsaParams)).pem, /curve secp521r1/],
    ['an RSA-1024 key', async () => (await csr({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, { name: 'RSASSA-PKCS1-v1_5' })).pem, /1024-bit RSA/],
    [
      'a request signed by another key than its own',
      async () => {
        const other = (await crypto.webcrypto.subtle.generateKey(P256, true, ['sign', 'verify'])) as W.CryptoKeyPair;
        const mine = (await crypto.webcrypto.subtle.generateKey(P256, true, ['sign', 'verify'])) as W.CryptoKeyPair;
        const req = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=x', keys: { publicKey: mine.publicKey, privateKey: other.privateKey }, signingAlgorithm: ECDSA_SHA256 });
        return req.toString('pem');
      },
      /does not verify/,
    ],
  ];
  for (const [name, make, message] of refusedCsrs) {
    test(`refuses a CSR: ${name}`, async () => {
      const checked = await checkCsr(await make());
      assert.equal(checked.ok, false);
      assert.match((checked as { message: string }).message, message);
    });
  }
});

describe('allowedFingerprintsText', () => {
  const a = 'a'.repeat(64);
  const b = 'B'.repeat(64);
  const cases: [string, string[], string][] = [
    ['none: empty (no certificate passes)', [], ''],
    ['sorted, lower-cased, prefix dropped, one per line', [`sha256:${b}`, `sha256:${a}`], `${a}\n${'b'.repeat(64)}\n`],
    ['duplicates once', [`sha256:${a}`, a], `${a}\n`],
    ['anything that is not a SHA-256 hex digest is left out (a newline cannot add a line)', [`sha256:${a}\n${'c'.repeat(64)}`, 'sha256:xyz', ''], ''],
  ];
  for (const [name, input, expected] of cases) test(name, () => assert.equal(allowedFingerprintsText(input), expected));
});
