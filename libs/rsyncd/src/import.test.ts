import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mapImportedConfig } from './import';
import { parseRsyncdConf, parseSecretsFile } from './parse';
import { baseModule } from './testing';

// Fixtures live in src/ and are not copied by tsc: resolve them from dist/ back to src/.
const fixture = (name: string) => readFileSync(join(__dirname, '../src/fixtures', name), 'utf8');
const STOCK_EXAMPLE = '/usr/share/doc/rsync/examples/rsyncd.conf';

const importText = (conf: string, roots: string[], secrets?: string) =>
  mapImportedConfig(parseRsyncdConf(conf), secrets === undefined ? undefined : parseSecretsFile(secrets).entries, { roots });

describe('import of the Debian example rsyncd.conf', () => {
  // Its [ftp] module hides unreadable files (ignore nonreadable) and has a dont compress list: neither can be carried
  // over, and importing the module without them would show clients more than the old server did.
  const expectedSkipped = [
    {
      kind: 'module',
      name: 'ftp',
      reason:
        "has 'dont compress = *.gz *.tgz *.zip *.z *.rpm *.deb *.iso *.bz2 *.tbz', which RsyncHub cannot carry over; importing the module without it could let clients read or write more than the old server allowed",
    },
  ];

  test('fixture: the module is skipped with the reason, not opened wider', () => {
    const r = importText(fixture('debian-example-rsyncd.conf'), ['/var/www']);
    assert.deepEqual(r.modules, []);
    assert.deepEqual(r.users, []);
    assert.deepEqual(r.skipped, expectedSkipped);
  });

  test('fixture: with roots that do not cover /var/www/pub, the module is skipped with the reason', () => {
    const r = importText(fixture('debian-example-rsyncd.conf'), ['/data/modules']);
    assert.deepEqual(r.modules, []);
    assert.equal(r.skipped.length, 1);
    assert.equal(r.skipped[0].kind, 'module');
    assert.equal(r.skipped[0].name, 'ftp');
    assert.match(r.skipped[0].reason, /inside one of the module roots \(\/data\/modules\)/);
  });

  test('the stock file on this machine (when installed) imports the same way', { skip: !existsSync(STOCK_EXAMPLE) }, () => {
    const r = importText(readFileSync(STOCK_EXAMPLE, 'utf8'), ['/var/www']);
    assert.deepEqual(r.modules, []);
    assert.deepEqual(r.skipped, expectedSkipped);
  });

  test('without its narrowing parameters, [ftp] maps as an explicit anonymous read module', () => {
    const text = fixture('debian-example-rsyncd.conf').replace(/^\s*(dont compress|ignore nonreadable)\s*=.*$/gm, '');
    const r = importText(text, ['/var/www']);
    assert.deepEqual(r.modules, [
      baseModule({
        name: 'ftp',
        path: '/var/www/pub',
        comment: 'public archive',
        readOnly: true,
        anonymous: 'read',
        timeout: 600,
        refuseOptions: ['checksum', 'dry-run'],
        uid: 'nobody',
        gid: 'nogroup',
        useChroot: true,
      }),
    ]);
    assert.deepEqual(r.skipped.map((s) => [s.kind, s.name]), [
      ['parameter', 'ftp.auth users'],
      ['parameter', 'ftp.lock file'],
      ['parameter', 'ftp.strict modes'],
      ['parameter', 'ftp.transfer logging'],
    ]);
    assert.match(r.skipped[0]!.reason, /open to anyone without a password; imported as anonymous 'read'/);
  });
});

describe('import of the seed config (rsync-sersync.md, 2.4)', () => {
  test('as written, the trailing "# <---" comments are part of the values, so the module is skipped', () => {
    // The real daemon reads this file the same way: it serves "myhub1" with the comment
    // "PC back up             # <-----库说明" and logs 'Badly formed boolean' for "read only".
    const r = importText(fixture('seed-rsyncd.conf'), ['/home/cyno'], fixture('seed-rsyncd.secret'));
    assert.deepEqual(r.modules, []);
    assert.deepEqual(r.users, []);
    assert.deepEqual(r.skipped.map((s) => [s.kind, s.name]), [
      ['global', 'log file'],
      ['module', 'myhub1'],
      ['user', 'admin1'],
    ]);
    assert.match(r.skipped[1].reason, /no trailing comments/);
    assert.match(r.skipped[2].reason, /no imported module grants it access/);
  });

  test('with the trailing comments removed, everything maps (globals applied as module defaults)', () => {
    const cleaned = fixture('seed-rsyncd.conf').replace(/\s+#\s*<-+.*$/gm, '');
    const r = importText(cleaned, ['/home/cyno'], fixture('seed-rsyncd.secret'));
    assert.deepEqual(r.modules, [
      baseModule({
        name: 'myhub1',
        path: '/home/cyno/target', // trailing slash dropped
        comment: 'PC back up',
        ignoreErrors: true,
        readOnly: false,
        maxConnections: 4, // from the global section
        users: [{ name: 'admin1', access: 'rw' }], // default access from read only = no
        uid: null, // uid = root / gid = root are never taken from an import
        gid: null,
        useChroot: true,
      }),
    ]);
    assert.deepEqual(r.users, [{ name: 'admin1', password: '1234', comment: 'imported from rsyncd.conf' }]);
    assert.deepEqual(r.skipped.map((s) => [s.kind, s.name]), [
      ['global', 'log file'],
      ['parameter', 'myhub1.uid'],
      ['parameter', 'myhub1.gid'],
      ['parameter', 'myhub1.secrets file'],
    ]);
    assert.match(r.skipped[1]!.reason, /'root' would make transfers run as root; not imported/);
  });
});

describe('import mapping rules', () => {
  const ROOTS = ['/data/modules'];
  const one = (body: string, secrets?: string) => importText(`[m]\npath = /data/modules/m\n${body}`, ROOTS, secrets);
  /** The same, for a module with a user, so the "imported as anonymous" note does not get in the way. */
  const withUser = (body: string) => one(`auth users = alice\n${body}`);

  test('auth users: explicit access, default from read only, deny rules, first rule wins, groups/wildcards dropped', () => {
    const r = one('read only = yes\nauth users = alice:rw, bob  carol:RO,dave:deny @staff:rw e*:rw dave:rw alice:ro\n');
    assert.deepEqual(r.modules[0].users, [
      { name: 'alice', access: 'rw' },
      { name: 'bob', access: 'ro' },
      { name: 'carol', access: 'ro' },
    ]);
    const reasons = r.skipped.map((s) => s.reason).join('\n');
    assert.match(reasons, /deny rule 'dave:deny'/);
    assert.match(reasons, /group rule '@staff:rw'/);
    assert.match(reasons, /entry 'e\*:rw' dropped/);
    assert.deepEqual(r.users.map((u) => [u.name, u.password]), [
      ['alice', null],
      ['bob', null],
      ['carol', null],
    ]);
  });

  test('default access is rw when the module is writable', () => {
    assert.deepEqual(one('read only = false\nauth users = alice\n').modules[0].users, [{ name: 'alice', access: 'rw' }]);
  });

  test('a module whose auth users would all be dropped is skipped (it would become anonymous)', () => {
    const r = one('auth users = @staff, *\n');
    assert.deepEqual(r.modules, []);
    assert.match(r.skipped.find((s) => s.kind === 'module')!.reason, /open to anyone/);
  });

  test('hosts allow: the host forms rsync knows are kept; only unusable entries are dropped, and none left skips', () => {
    const kept = withUser('hosts allow = 10.0.0.0/8, host.example.com ::1 *.lan @ng 10.1.0.0/255.255.0.0 bad%x\n');
    assert.deepEqual(kept.modules[0].hostsAllow, ['10.0.0.0/8', 'host.example.com', '::1', '*.lan', '@ng', '10.1.0.0/255.255.0.0']);
    assert.deepEqual(kept.skipped.map((s) => s.name), ['m.hosts allow']);
    assert.match(kept.skipped[0].reason, /entry 'bad%x' dropped/);
    const none = withUser('hosts allow = bad%x\n');
    assert.deepEqual(none.modules, []);
    assert.match(none.skipped[0].reason, /would allow every host/);
  });

  test('hosts deny = * next to an allow list (the normal idiom) imports as it is', () => {
    const r = withUser('hosts allow = 192.168.1.0/24 10.0.0.5\nhosts deny = *\n');
    assert.deepEqual(r.modules[0].hostsAllow, ['192.168.1.0/24', '10.0.0.5']);
    assert.deepEqual(r.modules[0].hostsDeny, ['*']);
    assert.deepEqual(r.skipped, []);
  });

  test('hosts deny with an unusable entry skips the module (dropping it would let that host in)', () => {
    const r = withUser('hosts deny = 10.0.0.1 bad;example.com\n');
    assert.deepEqual(r.modules, []);
    assert.match(r.skipped[0].reason, /hosts deny entry 'bad;example\.com'/);
  });

  test('parameters that narrow what clients may do skip the module; harmless ones are dropped with a note', () => {
    for (const p of ['filter = - /secret/', 'include = *.txt', 'exclude from = /etc/ex', 'include from = /etc/in', 'dont compress = *.gz',
      'pre-xfer exec = /bin/check', 'incoming chmod = Dg+s', 'ignore nonreadable = yes', 'max verbosity = 0', 'munge symlinks = yes',
      'fake super = yes', 'auth digest = md5', 'early exec = /x', 'forward lookup = no']) {
      const r = withUser(`${p}\n`);
      assert.deepEqual(r.modules, [], p);
      assert.deepEqual(r.skipped.map((s) => [s.kind, s.name]), [['module', 'm']], p);
      assert.match(r.skipped[0]!.reason, /cannot carry over; importing the module without it could let clients read or write more/, p);
    }
    const harmless = withUser('charset = utf-8\nsyslog tag = x\n');
    assert.equal(harmless.modules.length, 1);
    assert.deepEqual(harmless.skipped.map((s) => s.name), ['m.charset', 'm.syslog tag']);
  });

  test('a narrowing parameter in the global section is reported once there, and each module after it is skipped for it', () => {
    const r = importText('dont compress = *.gz\nsyslog tag = old\n[a]\npath = /data/modules/a\nauth users = alice\n[b]\npath = /data/modules/b\nauth users = bob\n', ROOTS);
    assert.deepEqual(r.modules, []);
    assert.deepEqual(r.skipped.map((s) => [s.kind, s.name]), [
      ['global', 'dont compress'],
      ['global', 'syslog tag'],
      ['module', 'a'],
      ['module', 'b'],
    ]);
    assert.match(r.skipped[2]!.reason, /inherits from the global section 'dont compress = \*\.gz'/);
    // The harmless global parameter is not blamed on the modules.
    assert.ok(!r.skipped.some((s) => s.kind !== 'global' && s.reason.includes('syslog')));
  });

  test('no auth users: imported with the explicit anonymous value that matches (read / read-write), and noted', () => {
    const ro = one('read only = yes\n');
    assert.equal(ro.modules[0].anonymous, 'read');
    const rw = one('read only = no\n');
    assert.equal(rw.modules[0].anonymous, 'read-write');
    assert.match(rw.skipped[0].reason, /imported as anonymous 'read-write'/);
    assert.equal(withUser('').modules[0].anonymous, 'none');
  });

  test('read only = yes with an rw grant imports as what rsync does: writable, with per-user access', () => {
    const r = one('read only = yes\nauth users = alice:rw bob\n');
    assert.equal(r.modules[0].readOnly, false);
    assert.deepEqual(r.modules[0].users, [{ name: 'alice', access: 'rw' }, { name: 'bob', access: 'ro' }]);
    assert.match(r.skipped.find((s) => s.name === 'm.read only')!.reason, /rsync lets them write/);
  });

  test('uid / gid root or 0 are never imported', () => {
    const r = withUser('uid = 0\ngid = root\n');
    assert.equal(r.modules[0].uid, null);
    assert.equal(r.modules[0].gid, null);
    assert.equal(r.modules[0].allowRootIds, false);
    assert.deepEqual(r.skipped.map((s) => s.name), ['m.uid', 'm.gid']);
  });

  test('global hosts allow/deny apply to modules defined after them', () => {
    const r = importText('hosts allow = 192.168.0.0/16\n[m]\npath = /data/modules/m\n', ROOTS);
    assert.deepEqual(r.modules[0].hostsAllow, ['192.168.0.0/16']);
  });

  test('exclude and refuse options map; unrepresentable ones skip the module', () => {
    const ok = one('exclude = *.tmp /private/***\nrefuse options = delete *\n');
    assert.deepEqual(ok.modules[0].excludes, ['*.tmp', '/private/***']);
    assert.deepEqual(ok.modules[0].refuseOptions, ['delete', '*']);
    assert.deepEqual(one('exclude = - *.tmp\n').modules, []);
    assert.deepEqual(one('exclude = %HOME%\n').modules, []);
    assert.deepEqual(one('refuse options = delete,checksum\n').modules, []);
  });

  test('paths: outside roots, traversal, relative, env references, root itself are skipped with a reason', () => {
    const cases: [string, RegExp][] = [
      ['/etc', /inside one of the module roots/],
      ['/data/modules/../etc', /'\.\.'/],
      ['data/modules/x', /absolute/],
      ['/data/modules/%RSYNC_USER_NAME%', /'%'/],
      ['/data/modules', /inside one of the module roots/],
      ['/data/modules/./x', /normalised/],
    ];
    for (const [p, re] of cases) {
      const r = importText(`[m]\npath = ${p}\n`, ROOTS);
      assert.deepEqual(r.modules, [], p);
      assert.equal(r.skipped[0].kind, 'module');
      assert.match(r.skipped[0].reason, re, p);
    }
    assert.match(importText('[m]\ncomment = x\n', ROOTS).skipped[0].reason, /no path/);
  });

  test('numbers and booleans: rsync defaults, bad values reported, negative max connections skips', () => {
    const d = one('');
    assert.equal(d.modules[0].readOnly, true);
    assert.equal(d.modules[0].list, true);
    assert.equal(d.modules[0].useChroot, null);
    const bad = withUser('timeout = soon\nlist = maybe\nmax connections = 99999\nuse chroot = unset\n');
    assert.equal(bad.modules[0].timeout, 0);
    assert.equal(bad.modules[0].list, true);
    assert.equal(bad.modules[0].maxConnections, 0);
    assert.equal(bad.modules[0].useChroot, null);
    assert.deepEqual(bad.skipped.map((s) => s.name), ['m.list', 'm.max connections', 'm.timeout']);
    assert.match(one('max connections = -1\n').skipped[0].reason, /disables the module/);
    assert.match(one('read only = no\nwrite only = yes\nread only = yes\n').skipped[0].reason, /both set/);
  });

  test('uid/gid with %VAR% or * are dropped', () => {
    const r = withUser('uid = %RSYNC_USER_NAME%\ngid = *\n');
    assert.equal(r.modules[0].uid, null);
    assert.equal(r.modules[0].gid, null);
    assert.deepEqual(r.skipped.map((s) => s.name), ['m.uid', 'm.gid']);
  });

  test('a hostile comment is dropped, not imported', () => {
    const r = withUser('comment = 100% \\\n  done\n');
    assert.equal(r.modules[0].comment, '');
    assert.match(r.skipped[0].reason, /'%'/);
  });

  test('invalid module names are skipped', () => {
    const r = importText('[global2]\npath = /data/modules/a\nauth users = a\n[a b]\npath = /data/modules/b\n[x;y]\npath = /data/modules/c\n', ROOTS);
    assert.deepEqual(r.modules.map((m) => m.name), ['global2']);
    assert.deepEqual(r.skipped.map((s) => s.name), ['a b', 'x;y']);
  });

  test('parse problems (&include, unknown parameters) are reported as skipped, in the section they are in', () => {
    const r = importText('&include /etc/rsyncd.d\n[m]\npath = /data/modules/m\nread_only = no\nauth users = a\n', ROOTS);
    assert.deepEqual(r.skipped.map((s) => [s.kind, s.name]), [
      ['global', 'line 1'],
      ['parameter', 'm.line 4'],
    ]);
  });

  test('secrets: password used when valid; invalid ones become null with a reason; unused ones reported', () => {
    const r = one('auth users = alice bob carol\n', 'alice:good:pw\nbob: padded\nzed:unused\n');
    assert.deepEqual(r.users, [
      { name: 'alice', password: 'good:pw', comment: 'imported from rsyncd.conf' },
      { name: 'bob', password: null, comment: 'imported from rsyncd.conf' },
      { name: 'carol', password: null, comment: 'imported from rsyncd.conf' },
    ]);
    assert.deepEqual(r.skipped.map((s) => [s.kind, s.name]), [
      ['user', 'bob'],
      ['user', 'zed'],
    ]);
  });

  test('never throws on garbage', () => {
    const garbage = ['', '[', ']]]', '=\n=', '\\\n\\\n', '[m]\npath=\n', '&x', '\u0000\u0085\u2028', 'a'.repeat(10000)];
    for (const g of garbage) assert.doesNotThrow(() => importText(g, ROOTS, g), JSON.stringify(g.slice(0, 10)));
  });
});
