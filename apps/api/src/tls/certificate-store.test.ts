import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createCa, describeCertificate, issueServerCertificate } from './certificates';
import { CertificateStore } from './certificate-store';

async function waitFor(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('CertificateStore with a provided certificate', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-certstore-'));
  const certFile = path.join(dir, 'fullchain.pem');
  const keyFile = path.join(dir, 'privkey.pem');
  const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };
  const store = new CertificateStore(path.join(dir, 'data'), { certFile, keyFile }, quiet);

  after(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('an expired pair written over the served one is not loaded (the served one stays, lastError says why)', async () => {
    const ca = await createCa({ commonName: 'test CA' });
    const good = await issueServerCertificate({ ca, names: ['hub.example.org'] });
    fs.writeFileSync(certFile, good.certPem);
    fs.writeFileSync(keyFile, good.keyPem);
    await store.load('');
    store.watch();
    const served = store.current!.leaf.fingerprint256;

    // A careless restore of last year's files: a matching pair, but expired.
    const day = 86_400_000;
    const expired = await issueServerCertificate({ ca, names: ['hub.example.org'], notBefore: new Date(Date.now() - 400 * day), notAfter: new Date(Date.now() - day) });
    fs.writeFileSync(keyFile, expired.keyPem);
    fs.writeFileSync(certFile, expired.certPem);
    await waitFor('the store to look at the whole new pair', () => /expired/.test(store.lastError ?? '') || store.current!.leaf.fingerprint256 !== served);
    assert.equal(store.current!.leaf.fingerprint256, served, `still serving ${served}, not ${describeCertificate(expired.certPem).fingerprint256}`);
    assert.match(store.lastError ?? '', /expired/);
  });
});
