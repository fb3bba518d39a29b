import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { firstNonLoopbackAddress, publicHostProblem } from './public-host';

test('publicHostProblem accepts host names and IP literals, refuses anything a shell line or URL would misread', () => {
  const ok = ['', 'hub.example.com', 'hub', 'hub.example.com.', '192.0.2.10', '2001:db8::1', 'a-b.c-d.example'];
  for (const v of ok) assert.equal(publicHostProblem(v), null, v);
  const bad = [' hub', 'hub ', 'https://hub.example.com', 'hub:873', 'hub/x', 'root@hub', 'hub;rm -rf /', 'hub\nx', '-hub', 'hub-', 'a..b', '$(id)', 'x'.repeat(254)];
  for (const v of bad) assert.notEqual(publicHostProblem(v), null, JSON.stringify(v));
});

const nic = (address: string, family: 'IPv4' | 'IPv6', internal = false): NetworkInterfaceInfo =>
  ({ address, family, internal, netmask: '', mac: '', cidr: null, ...(family === 'IPv6' ? { scopeid: 0 } : {}) }) as NetworkInterfaceInfo;

test('firstNonLoopbackAddress never picks loopback or link-local, prefers IPv4', () => {
  const cases: [string, NodeJS.Dict<NetworkInterfaceInfo[]>, string | null][] = [
    ['only loopback', { lo: [nic('127.0.0.1', 'IPv4', true), nic('::1', 'IPv6', true)] }, null],
    ['ethernet after loopback', { lo: [nic('127.0.0.1', 'IPv4', true)], eth0: [nic('fe80::1', 'IPv6'), nic('10.0.0.5', 'IPv4')] }, '10.0.0.5'],
    ['IPv6 only (global)', { lo: [nic('::1', 'IPv6', true)], eth0: [nic('fe80::1', 'IPv6'), nic('2001:db8::5', 'IPv6')] }, '2001:db8::5'],
    ['IPv6 link-local only', { eth0: [nic('fe80::1', 'IPv6')] }, null],
    ['no interfaces', {}, null],
  ];
  for (const [name, ifs, want] of cases) assert.equal(firstNonLoopbackAddress(ifs), want, name);
});
