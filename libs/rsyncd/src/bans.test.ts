import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyBans, checkBannableAddress, parseNetwork } from './bans';
import { renderRsyncdConf } from './render';
import { baseModule } from './testing';

test('checkBannableAddress accepts plain IPs only', () => {
  const cases: [unknown, boolean][] = [
    ['127.0.0.5', true],
    ['2001:db8::1', true],
    ['::ffff:10.0.0.1', true],
    ['10.0.0.0/8', false],
    ['fe80::1%eth0', false],
    ['*', false],
    ['host.example', false],
    ['1.2.3.4\nhosts allow = *', false],
    ['', false],
    [42, false],
  ];
  for (const [input, ok] of cases) assert.equal(checkBannableAddress(input) === null, ok, String(input));
});

test('parseNetwork reads addresses, prefixes and contiguous masks', () => {
  assert.deepEqual(parseNetwork('10.1.2.3/8'), { version: 4, base: 10n << 24n, prefix: 8 });
  assert.deepEqual(parseNetwork('10.0.0.0/255.255.0.0')?.prefix, 16);
  assert.equal(parseNetwork('10.0.0.0/255.0.255.0'), null);
  assert.equal(parseNetwork('host.example'), null);
  assert.equal(parseNetwork('10.0.0.*'), null);
  assert.equal(parseNetwork('2001:db8::/32')?.prefix, 32);
});

test('applyBans: table of effective access lists', () => {
  const cases: { what: string; allow: string[]; deny: string[]; bans: string[]; expect: { allow: string[]; deny: string[]; unenforced: string[]; unenforcedDeny: string[] } }[] = [
    { what: 'no lists: the bans become the deny list', allow: [], deny: [], bans: ['127.0.0.5'], expect: { allow: [], deny: ['127.0.0.5'], unenforced: [], unenforcedDeny: [] } },
    { what: 'deny list is extended', allow: [], deny: ['10.0.0.0/8'], bans: ['127.0.0.5'], expect: { allow: [], deny: ['10.0.0.0/8', '127.0.0.5'], unenforced: [], unenforcedDeny: [] } },
    {
      what: 'allow-only keeps refusing everyone else (deny *), the banned address is cut out of its network',
      allow: ['127.0.0.4/30'],
      deny: [],
      bans: ['127.0.0.5'],
      expect: { allow: ['127.0.0.4', '127.0.0.6/31'], deny: ['*'], unenforced: [], unenforcedDeny: [] },
    },
    { what: 'an allow entry that is the banned address goes', allow: ['127.0.0.5', '10.0.0.1'], deny: [], bans: ['127.0.0.5'], expect: { allow: ['10.0.0.1'], deny: ['*'], unenforced: [], unenforcedDeny: [] } },
    { what: 'allow outside the ban is untouched', allow: ['192.168.0.0/16'], deny: ['*'], bans: ['127.0.0.5'], expect: { allow: ['192.168.0.0/16'], deny: ['*'], unenforced: [], unenforcedDeny: [] } },
    {
      what: 'a wildcard admitting the ban is reported',
      allow: ['127.0.0.*'],
      deny: [],
      bans: ['127.0.0.5', '10.0.0.1'],
      expect: { allow: ['127.0.0.*'], deny: ['*'], unenforced: ['127.0.0.5'], unenforcedDeny: [] },
    },
    { what: 'IPv6 /126 minus one address', allow: ['2001:db8::/126'], deny: [], bans: ['2001:db8::2'], expect: { allow: ['2001:db8:0:0:0:0:0:0/127', '2001:db8:0:0:0:0:0:3'], deny: ['*'], unenforced: [], unenforcedDeny: [] } },
    { what: 'no bans: allow-only still refuses the rest', allow: ['10.0.0.0/8'], deny: [], bans: [], expect: { allow: ['10.0.0.0/8'], deny: ['*'], unenforced: [], unenforcedDeny: [] } },
  ];
  for (const c of cases) assert.deepEqual(applyBans(c.allow, c.deny, c.bans), c.expect, c.what);
});

test('a /8 minus one address is 24 networks that together cover everything else', () => {
  const { allow } = applyBans(['127.0.0.0/8'], [], ['127.0.0.5']);
  assert.equal(allow.length, 24);
  const size = allow.reduce((n, e) => n + 2 ** (32 - (parseNetwork(e)!.prefix)), 0);
  assert.equal(size, 2 ** 24 - 1);
});

test('renderRsyncdConf closes every module to banned addresses, and refuses a ban that is not an address', () => {
  const paths = { secretsFile: '/d/s', pidFile: '/d/p', lockDir: '/d/l', logFile: '/d/log' };
  const settings = { port: 873, address: '0.0.0.0', motd: '', maxConnections: 0, timeout: 0, reverseLookup: false, hostsAllow: ['10.0.0.0/8'], hostsDeny: [] };
  const modules = [baseModule({ name: 'a', path: '/data/a' }), baseModule({ name: 'b', path: '/data/b', hostsAllow: ['127.0.0.5'] })];
  const { text, warnings } = renderRsyncdConf({ settings, modules, runningAsRoot: false, paths, bans: ['127.0.0.5'] });
  const section = (name: string) => text.split(`[${name}]`)[1]!.split('\n[')[0]!;
  assert.match(section('a'), /hosts allow = 10\.0\.0\.0\/8\n\s+hosts deny = \*\n/);
  // b allowed only the banned address: an explicit empty allow (overriding the global one) and deny everything
  assert.match(section('b'), /hosts allow =\n\s+hosts deny = \*\n/);
  assert.ok(!(warnings.a ?? []).some((w) => w.includes('banned')));
  assert.throws(() => renderRsyncdConf({ settings, modules, runningAsRoot: false, paths, bans: ['1.2.3.4\n[evil]'] }), /bans\[0\]/);
  // Without bans and without any lists the output is what it always was.
  const noLists = { ...settings, hostsAllow: [] };
  assert.doesNotMatch(renderRsyncdConf({ settings: noLists, modules: [modules[0]!], runningAsRoot: false, paths }).text.split('[a]')[1]!, /hosts/);
});
