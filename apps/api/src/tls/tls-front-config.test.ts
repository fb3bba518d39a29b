import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tlsConfigFromEnv } from '../config/app-config';

test('RSYNCHUB_TLS_FRONT: native by default, node on request, anything else refused with the variable named', () => {
  const cases: { value: string | undefined; front?: 'native' | 'node'; error?: RegExp }[] = [
    { value: undefined, front: 'native' },
    { value: '', front: 'native' },
    { value: 'native', front: 'native' },
    { value: ' node ', front: 'node' },
    { value: 'stunnel', error: /RSYNCHUB_TLS_FRONT must be native or node, got "stunnel"/ },
    { value: 'NODE', error: /RSYNCHUB_TLS_FRONT must be native or node/ },
  ];
  for (const c of cases) {
    const env = c.value === undefined ? {} : { RSYNCHUB_TLS_FRONT: c.value };
    if (c.error) assert.throws(() => tlsConfigFromEnv(env, '/'), c.error, JSON.stringify(c.value));
    else assert.equal(tlsConfigFromEnv(env, '/').front, c.front, JSON.stringify(c.value));
  }
});
