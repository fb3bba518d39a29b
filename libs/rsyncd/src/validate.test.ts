import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DaemonSettingsDto, ModuleFields } from '@rsynchub/contracts';
import { HOSTILE_CONFIG_VALUES, baseModule } from './testing';
import {
  checkConfigValue,
  checkExcludePattern,
  checkHookPath,
  checkHostPattern,
  checkPathLimits,
  needsReverseLookup,
  pathRelation,
  checkLogFormat,
  checkModuleName,
  checkModulePath,
  checkModulePathOverlap,
  checkMotd,
  checkRefuseOption,
  checkRsyncPassword,
  checkRsyncUserName,
  checkUnixId,
  normaliseModulePath,
  validateDaemonSettings,
  validateModule,
} from './validate';

const ROOTS = ['/data/modules', '/srv/rsync/'];

describe('checkConfigValue', () => {
  for (const [label, value, expect] of HOSTILE_CONFIG_VALUES) {
    test(`rejects ${label}`, () => {
      const msg = checkConfigValue(value);
      assert.ok(msg, `expected '${JSON.stringify(value)}' to be rejected`);
      assert.match(msg, expect);
    });
  }
  for (const ok of ['plain', 'with internal  spaces', 'a=b', 'brackets [x] ]', 'ünïcödé 日本語', 'x'.repeat(1024), 'semi;colon', 'a#b']) {
    test(`accepts ${JSON.stringify(ok.slice(0, 30))}`, () => assert.equal(checkConfigValue(ok), null));
  }
  test('allowEmpty and maxLength options', () => {
    assert.equal(checkConfigValue('', { allowEmpty: true }), null);
    assert.match(checkConfigValue('abcd', { maxLength: 3 })!, /at most 3/);
  });
});

describe('checkModuleName', () => {
  const bad: [string, string][] = [
    ['', 'empty'],
    ['a]b', ']'],
    ['[x]', 'brackets'],
    ['a b', 'space'],
    [';x', 'semicolon'],
    ['#x', 'hash'],
    ['a/b', 'slash'],
    ['a%b%', 'percent'],
    ['a\nb', 'newline'],
    ['.hidden', 'leading dot'],
    ['-x', 'leading dash'],
    ['x'.repeat(65), 'too long'],
    ['global', 'reserved'],
    ['GLOBAL', 'reserved, any case'],
    ['Global', 'reserved, any case'],
    ['mod\u202e', 'bidi override'],
  ];
  for (const [name, why] of bad) test(`rejects ${JSON.stringify(name)} (${why})`, () => assert.ok(checkModuleName(name)));
  for (const name of ['a', 'backup', 'Data_2024', 'my-hub.1', 'x'.repeat(64), 'globals']) {
    test(`accepts ${name}`, () => assert.equal(checkModuleName(name), null));
  }
  test('message for global names the rule', () => assert.match(checkModuleName('global')!, /reserved/));
});

describe('checkRsyncUserName', () => {
  for (const name of ['', 'Alice', '1abc', 'a b', 'a:b', '@grp', '#x', 'a*', 'a?', 'a,b', 'x'.repeat(33), 'a\n', ';x']) {
    test(`rejects ${JSON.stringify(name)}`, () => assert.ok(checkRsyncUserName(name)));
  }
  for (const name of ['alice', '_svc', 'bob.smith', 'web-1', 'x'.repeat(32)]) {
    test(`accepts ${name}`, () => assert.equal(checkRsyncUserName(name), null));
  }
});

describe('checkModulePath', () => {
  const bad: [string, RegExp][] = [
    ['relative/path', /absolute/],
    ['data/modules/x', /absolute/],
    ['/', /must not be \//],
    ['/data/modules/../etc', /'\.\.'/],
    ['/data/modules/x/..', /'\.\.'/],
    ['/data/modules/./x', /normalised/],
    ['/data/modules//x', /normalised/],
    ['/data/modules/x/', /end with \//],
    ['/data/modules', /inside one of the module roots/],
    ['/srv/rsync', /inside one of the module roots/],
    ['/data/modulesX/y', /inside one of the module roots/],
    ['/etc', /inside one of the module roots/],
    ['/data/modules/x\ny', /control character/],
    ['/data/modules/x\\', /backslash/],
    ['/data/modules/%HOME%', /'%'/],
    ['/data/modules/x ', /whitespace/],
    ['/data/modules/' + 'x'.repeat(5000), /at most/],
    ['/data/modules/a\u2028b', /control character/],
  ];
  for (const [p, re] of bad) {
    test(`rejects ${JSON.stringify(p.slice(0, 40))}`, () => {
      const msg = checkModulePath(p, ROOTS);
      assert.ok(msg);
      assert.match(msg, re);
    });
  }
  for (const p of ['/data/modules/a', '/data/modules/a/b c', '/srv/rsync/x']) {
    test(`accepts ${p}`, () => assert.equal(checkModulePath(p, ROOTS), null));
  }
  test('no roots means nothing is allowed', () => assert.match(checkModulePath('/data/modules/a', [])!, /no module roots/));
  test('normaliseModulePath strips trailing slashes only', () => {
    assert.equal(normaliseModulePath('/a/b//'), '/a/b');
    assert.equal(normaliseModulePath('/'), '/');
    assert.equal(normaliseModulePath('/a/../b/'), '/a/../b');
  });
});

describe('checkHostPattern', () => {
  // Every form rsync's access.c understands (rsyncd.conf(5) "hosts allow").
  const ok = [
    '127.0.0.1',
    '10.0.0.0/8',
    '0.0.0.0/0',
    '192.168.1.0/32',
    '::1',
    '2001:db8::/32',
    '::/0',
    'fe80::/128',
    '*', // the normal `hosts deny = *` next to an allow list
    'example.com',
    'backup-1.example.com',
    'example.com.',
    '*.example.com',
    'host?',
    'host*',
    '192.168.1.*',
    'web_1.lan',
    '@netgroup',
    '@trusted.hosts',
    '10.0.0.0/255.0.0.0',
    '192.168.1.0/255.255.255.128',
    '2001:db8::/ffff:ffff::',
  ];
  const bad = [
    '',
    '10.0.0.0/33',
    '10.0.0.0/-1',
    '10.0.0.0/08',
    '10.0.0.0/',
    '::1/129',
    '256.1.1.1',
    '1.2.3',
    'fe80::1%eth0',
    '%HOSTNAME%',
    '10.0.0.1 10.0.0.2',
    '10.0.0.1,10.0.0.2',
    '127.0.0.1\n',
    'host\nsecrets file = /etc/shadow',
    'a\\',
    'a;b',
    '#x',
    '[abc]',
    'a]',
    '-host',
    'host-',
    '.example.com',
    'a..b',
    '@',
    '@-x',
    '@net group',
    'example.com/24',
    '10.0.0.0/::',
    '2001:db8::/255.0.0.0',
    'h\u00e9te',
    'x'.repeat(254),
    ' 10.0.0.1',
  ];
  for (const h of ok) test(`accepts ${h}`, () => assert.equal(checkHostPattern(h), null));
  for (const h of bad) test(`rejects ${JSON.stringify(h.slice(0, 40))}`, () => assert.ok(checkHostPattern(h)));
  test('only wildcard names and netgroups need reverse lookup; * and addresses do not', () => {
    assert.deepEqual(
      ['*', '10.0.0.1', '10.0.0.0/8', 'example.com', '*.example.com', 'host?', '@ng'].map(needsReverseLookup),
      [false, false, false, false, true, true, true],
    );
  });
});

describe('checkPathLimits / pathRelation', () => {
  test('a component over NAME_MAX (255 bytes) or a path at PATH_MAX (4096 bytes) is refused with the limit', () => {
    assert.equal(checkPathLimits('/data/modules/' + 'a'.repeat(255)), null);
    assert.match(checkPathLimits('/data/modules/' + 'a'.repeat(256))!, /256 bytes.*at most 255 \(NAME_MAX\)/);
    // 128 two-byte characters are 256 bytes.
    assert.match(checkPathLimits('/data/modules/' + 'é'.repeat(128))!, /NAME_MAX/);
    assert.match(checkPathLimits('/data' + '/abcdefgh'.repeat(512))!, /PATH_MAX/);
    assert.match(checkModulePath('/data/modules/' + 'a'.repeat(300), ROOTS)!, /NAME_MAX/);
  });
  test('relations', () => {
    assert.equal(pathRelation('/a/b', '/a/b'), 'equal');
    assert.equal(pathRelation('/a/b/c', '/a/b'), 'inside');
    assert.equal(pathRelation('/a', '/a/b'), 'contains');
    assert.equal(pathRelation('/a/bc', '/a/b'), null);
  });
});

describe('checkRsyncPassword', () => {
  for (const pw of ['a', 'p:a:ss', 'with space inside', '%HOME%', 'back\\slash', '#hash', 'ü'.repeat(256)]) {
    test(`accepts ${JSON.stringify(pw.slice(0, 20))}`, () => assert.equal(checkRsyncPassword(pw), null));
  }
  for (const pw of ['', ' lead', 'trail ', 'new\nline', 'cr\r', 'tab\t', 'nul\u0000', 'x'.repeat(257), 'a\u2028', 'a\u202e']) {
    test(`rejects ${JSON.stringify(pw.slice(0, 20))}`, () => assert.ok(checkRsyncPassword(pw)));
  }
});

describe('checkRefuseOption / checkExcludePattern / checkUnixId', () => {
  for (const o of ['delete', '-z', 'compress', '*', '!a', 'delete-*', 'c?']) {
    test(`refuse option ${o} accepted`, () => assert.equal(checkRefuseOption(o), null));
  }
  for (const o of ['', 'a b', 'a,b', 'x\n', '!', '%x%', 'a\\', '#x', ';x']) {
    test(`refuse option ${JSON.stringify(o)} rejected`, () => assert.ok(checkRefuseOption(o)));
  }
  for (const p of ['*.tmp', '/secret/***', '.git/', '[ab]*']) {
    test(`exclude ${p} accepted`, () => assert.equal(checkExcludePattern(p), null));
  }
  test('exclude with a space is rejected and says why', () => {
    assert.match(checkExcludePattern('My Documents')!, /space-separated/);
    assert.match(checkExcludePattern('a\tb')!, /control|whitespace/);
  });
  for (const p of ['', ' x', 'x\n', '%x%', '#x', 'a\\']) {
    test(`exclude ${JSON.stringify(p)} rejected`, () => assert.ok(checkExcludePattern(p)));
  }
  for (const v of ['nobody', 'www-data', '_x', '0', '65534']) test(`id ${v} accepted`, () => assert.equal(checkUnixId(v), null));
  for (const v of ['', '*', 'Root', '%RSYNC_USER_NAME%', '-1', '01', 'a b', '99999999999']) {
    test(`id ${JSON.stringify(v)} rejected`, () => assert.ok(checkUnixId(v)));
  }
});

describe('checkLogFormat / checkHookPath / checkMotd', () => {
  test('log format allows escapes but not %NAME%', () => {
    assert.equal(checkLogFormat('%o %h [%a] %m (%u) %f %l'), null);
    assert.match(checkLogFormat('%f%HOME%')!, /%NAME%/);
    assert.ok(checkLogFormat('%o\n%f'));
    assert.ok(checkLogFormat('%o \\'));
  });
  test('hook path must be shell-inert', () => {
    assert.equal(checkHookPath('/opt/rsynchub/hooks/post-xfer.sh'), null);
    for (const p of ['relative.sh', '/opt/a b.sh', '/opt/x;rm', '/opt/$(x)', '/opt/../x', '/opt/x`', '/opt/x\n']) {
      assert.ok(checkHookPath(p), p);
    }
  });
  test('motd allows newlines, % and \\ but not other controls', () => {
    assert.equal(checkMotd('Welcome!\nLine 2 with 100% \\o/\n'), null);
    assert.equal(checkMotd(''), null);
    for (const m of ['a\rb', 'a\tb', '\u001b[2J', 'a\u202e', 'x'.repeat(4097)]) assert.ok(checkMotd(m), JSON.stringify(m));
  });
});

describe('validateModule', () => {
  // baseModule is anonymous read-write; a row that grants users is a normal password-only module.
  const fields = (m: Partial<ModuleFields>, knownUsers?: string[]) =>
    validateModule(baseModule({ ...(m.users?.length ? { anonymous: 'none' as const } : {}), ...m }), { roots: ROOTS, knownUsers }).map((e) => e.field);

  test('a valid module has no errors', () => {
    assert.deepEqual(
      validateModule(
        baseModule({
          comment: 'Nightly backups',
          maxConnections: 10,
          timeout: 600,
          hostsAllow: ['10.0.0.0/8'],
          hostsDeny: ['0.0.0.0/0'],
          users: [
            { name: 'alice', access: 'rw' },
            { name: 'bob', access: 'ro' },
          ],
          refuseOptions: ['delete'],
          excludes: ['*.tmp'],
          anonymous: 'none',
          uid: 'nobody',
          gid: '65534',
          useChroot: true,
        }),
        { roots: ROOTS, knownUsers: ['alice', 'bob'] },
      ),
      [],
    );
  });

  const table: [string, Partial<ModuleFields>, string[], string[]?][] = [
    ['bad name', { name: 'a]b' }, ['name']],
    ['path outside roots', { path: '/etc' }, ['path']],
    ['traversal', { path: '/data/modules/../etc' }, ['path']],
    ['comment with newline', { comment: 'a\n[x]' }, ['comment']],
    ['comment too long', { comment: 'x'.repeat(257) }, ['comment']],
    ['comment with %', { comment: '%HOME%' }, ['comment']],
    ['readOnly and writeOnly', { readOnly: true, writeOnly: true, anonymous: 'read' }, ['writeOnly']],
    ['maxConnections negative', { maxConnections: -1 }, ['maxConnections']],
    ['maxConnections fraction', { maxConnections: 1.5 }, ['maxConnections']],
    ['maxConnections too big', { maxConnections: 10001 }, ['maxConnections']],
    ['timeout too big', { timeout: 86401 }, ['timeout']],
    ['bad host in allow', { hostsAllow: ['10.0.0.1', 'evil.example.com;x', '::1'] }, ['hostsAllow[1]']],
    ['bad host in deny', { hostsDeny: ['10.0.0.0/99'] }, ['hostsDeny[0]']],
    ['bad user name', { users: [{ name: 'Al ice', access: 'rw' }] }, ['users[0].name']],
    ['bad access', { users: [{ name: 'alice', access: 'admin' as never }] }, ['users[0].access']],
    [
      'duplicate users',
      {
        users: [
          { name: 'alice', access: 'rw' },
          { name: 'alice', access: 'ro' },
        ],
      },
      ['users[1].name'],
    ],
    ['unknown user', { users: [{ name: 'carol', access: 'rw' }] }, ['users[0].name'], ['alice']],
    ['refuse option with space', { refuseOptions: ['ok', 'a b'] }, ['refuseOptions[1]']],
    ['exclude with space', { excludes: ['a b'] }, ['excludes[0]']],
    ['bad uid', { uid: '%RSYNC_USER_NAME%' }, ['uid']],
    ['bad gid', { gid: '*' }, ['gid']],
    ['bad useChroot', { useChroot: 'yes' as never }, ['useChroot']],
    ['bad boolean', { list: 'yes' as never }, ['list']],
  ];
  for (const [label, over, expected, known] of table) {
    test(label, () => assert.deepEqual(fields(over, known), expected));
  }
  // Issue 14, items 1, 2 and 6: what the daemon does is what the fields say, and nothing is open by default.
  const access: [string, Partial<ModuleFields>, string[]][] = [
    ['no users and no anonymous opt-in (the old default: anyone could push)', { anonymous: 'none' }, ['users']],
    ['anonymous read-write, explicit', { anonymous: 'read-write' }, []],
    ['anonymous read on a read-only module', { anonymous: 'read', readOnly: true }, []],
    ['anonymous read on a writable module', { anonymous: 'read', readOnly: false }, ['readOnly']],
    ['anonymous read-write on a read-only module', { anonymous: 'read-write', readOnly: true }, ['anonymous']],
    ['anonymous with users granted', { anonymous: 'read', readOnly: true, users: [{ name: 'alice', access: 'ro' }] }, ['anonymous']],
    ['an unknown anonymous value', { anonymous: 'yes' as never }, ['anonymous']],
    ['read-only with an rw grant', { anonymous: 'none', readOnly: true, users: [{ name: 'bob', access: 'ro' }, { name: 'alice', access: 'rw' }] }, ['users[1].access']],
    ['read-only with ro grants', { anonymous: 'none', readOnly: true, users: [{ name: 'alice', access: 'ro' }] }, []],
    ['uid root without the opt-in', { uid: 'root' }, ['uid']],
    ['gid 0 without the opt-in', { gid: '0' }, ['gid']],
    ['uid and gid root with allowRootIds', { uid: 'root', gid: '0', allowRootIds: true }, []],
    ['allowRootIds not a boolean', { allowRootIds: 'yes' as never }, ['allowRootIds']],
  ];
  for (const [label, over, expected] of access) {
    test(`access model: ${label}`, () => assert.deepEqual(validateModule(baseModule(over), { roots: ROOTS }).map((e) => e.field), expected));
  }
  test('the refusals name both fields and the way out', () => {
    const [noUsers] = validateModule(baseModule({ anonymous: 'none' }), { roots: ROOTS });
    assert.match(noUsers!.message, /at least one rsync user.*anonymous to 'read' or 'read-write'/);
    const [rw] = validateModule(baseModule({ anonymous: 'none', readOnly: true, users: [{ name: 'alice', access: 'rw' }] }), { roots: ROOTS });
    assert.match(rw!.message, /'rw' but readOnly is true/);
    const [root] = validateModule(baseModule({ uid: 'root' }), { roots: ROOTS });
    assert.match(root!.message, /allowRootIds/);
  });

  test('messages name the rule', () => {
    const [e] = validateModule(baseModule({ comment: 'x\ny' }), { roots: ROOTS });
    assert.deepEqual(e, { field: 'comment', message: 'must not contain a newline or other control character' });
  });
});

describe('validateDaemonSettings', () => {
  const base: DaemonSettingsDto = {
    port: 873,
    address: '0.0.0.0',
    motd: 'Hello\nWorld 100%',
    maxConnections: 0,
    timeout: 0,
    reverseLookup: false,
    hostsAllow: [],
    hostsDeny: [],
  };
  test('valid settings', () => assert.deepEqual(validateDaemonSettings(base), []));
  const table: [string, Partial<DaemonSettingsDto>, string[]][] = [
    ['port 0', { port: 0 }, ['port']],
    ['port 65536', { port: 65536 }, ['port']],
    ['address hostname', { address: 'localhost' }, ['address']],
    ['address empty', { address: '' }, ['address']],
    ['motd with CR', { motd: 'a\r\nb' }, ['motd']],
    ['motd too long', { motd: 'x'.repeat(4097) }, ['motd']],
    ['maxConnections', { maxConnections: -1 }, ['maxConnections']],
    ['timeout', { timeout: 1e9 }, ['timeout']],
    ['reverseLookup', { reverseLookup: 'no' as never }, ['reverseLookup']],
    ['hosts', { hostsAllow: ['x.example/8'], hostsDeny: ['1.2.3.4', '* '] }, ['hostsAllow[0]', 'hostsDeny[1]']],
  ];
  for (const [label, over, expected] of table) {
    test(label, () => assert.deepEqual(validateDaemonSettings({ ...base, ...over }).map((e) => e.field), expected));
  }
  test('IPv6 address accepted', () => assert.deepEqual(validateDaemonSettings({ ...base, address: '::' }), []));
});

describe('checkModulePathOverlap', () => {
  const others = [
    { name: 'a', path: '/data/modules/a' },
    { name: 'deep', path: '/data/modules/x/y/z' },
  ];
  const cases: [string, RegExp | null][] = [
    ['/data/modules/b', null],
    ['/data/modules/ab', null], // a prefix of a name is not containment
    ['/data/modules/a', /already the path of module "a"/],
    ['/data/modules/a/sub', /lies inside module "a"/],
    ['/data/modules/x', /contains module "deep"/],
    ['/data/modules/x/y/z/w', /lies inside module "deep"/],
    ['/data/modules/x/y2', null],
  ];
  for (const [p, expected] of cases) {
    test(`${p} -> ${expected ?? 'ok'}`, () => {
      const got = checkModulePathOverlap(p, others);
      if (expected === null) assert.equal(got, null);
      else assert.match(got ?? '', expected);
    });
  }
});

describe('checkMotd refuses protocol lines', () => {
  const cases: [string, boolean][] = [
    ['Welcome\nto RsyncHub', true],
    ['mail me @ admin', true],
    ['Welcome\n@ERROR: maintenance', false],
    ['@RSYNCD: EXIT', false],
    ['ok\r\n@ERROR: x', false],
  ];
  for (const [motd, ok] of cases) test(JSON.stringify(motd), () => assert.equal(checkMotd(motd) === null, ok));
});
