import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadAppConfig, trustProxyFromEnv } from './app-config';

describe('RSYNCHUB_TRUST_PROXY', () => {
  const ok: [string | undefined, unknown][] = [
    [undefined, false],
    ['', false],
    ['false', false],
    ['0', false],
    ['off', false],
    ['true', 1], // one hop: the address the proxy appended, not what the client wrote
    ['TRUE', 1],
    ['2', 2],
    ['loopback', ['loopback']],
    ['10.0.0.5, 192.168.0.0/16,::1', ['10.0.0.5', '192.168.0.0/16', '::1']],
    ['uniquelocal,linklocal', ['uniquelocal', 'linklocal']],
  ];
  for (const [raw, expected] of ok) test(`${JSON.stringify(raw)} -> ${JSON.stringify(expected)}`, () => assert.deepEqual(trustProxyFromEnv(raw), expected));
  for (const raw of ['proxy.example', '10.0.0.0/33', '10.0.0.1/8/1', '11', 'yes please', '*']) {
    test(`${JSON.stringify(raw)} is refused, naming the variable`, () => assert.throws(() => trustProxyFromEnv(raw), /RSYNCHUB_TRUST_PROXY/));
  }
  test('off by default in the loaded config', () => assert.equal(loadAppConfig({}, '/tmp').trustProxy, false));
});
