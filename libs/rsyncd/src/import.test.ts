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
  const expectedFtp = baseModule({
    name: 'ftp',
    path: '/var/www/pub',
    comment: 'public archive',
    readOnly: true,
    list: true,
    ignoreErrors: false,
    timeout: 600,
    refuseOptions: ['checksum', 'dry-run'],
    uid: 'nobody',
    gid: 'nogroup',
    useChroot: true,
  });
  const expectedSkipped = [
    { kind: 'parameter', name: 'ftp.dont compress', reason: "parameter 'dont compress = *.gz *.tgz *.zip *.z *.rpm *.deb *.iso *.bz2 *.tbz' is not supported by RsyncHub" },
    { kind: 'parameter', name: 'ftp.ignore nonreadable', reason: "parameter 'ignore nonreadable = yes' is not supported by RsyncHub" },
    { kind: 'parameter', name: 'ftp.lock file', reason: 'RsyncHub manages lock files itself' },
    { kind: 'parameter', name: 'ftp.strict modes', reason: 'RsyncHub always uses strict modes = yes' },
    { kind: 'parameter', name: 'ftp.transfer logging', reason: 'RsyncHub configures transfer logging itself' },
  ];

  test('fixture: creates module ftp, skips what RsyncHub does not model', () => {
    const r = importText(fixture('debian-example-rsyncd.conf'), ['/var/www']);
    assert.deepEqual(r.modules, [expectedFtp]);
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
    assert.deepEqual(r.modules, [expectedFtp]);
    assert.deepEqual(r.skipped, expectedSkipped);
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
        uid: 'root',
        gid: 'root',
        useChroot: true,
      }),
    ]);
    assert.deepEqual(r.users, [{ name: 'admin1', password: '1234', comment: 'imported from rsyncd.conf' }]);
    assert.deepEqual(r.skipped, [
      { kind: 'global', name: 'log file', reason: 'RsyncHub manages the daemon log file itself' },
      { kind: 'parameter', name: 'myhub1.secrets file', reason: 'RsyncHub writes and uses its own secrets file' },
    ]);
  });
});

describe('import mapping rules', () => {
  const ROOTS = ['/data/modules'];
  const one = (body: string, secrets?: string) => importText(`[m]\npath = /data/modules/m\n${body}`, ROOTS, secrets);

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

  test('hosts allow: hostnames dropped when valid entries remain; skipped when none remain', () => {
    const kept = one('hosts allow = 10.0.0.0/8, host.example.com ::1\n');
    assert.deepEqual(kept.modules[0].hostsAllow, ['10.0.0.0/8', '::1']);
    assert.match(kept.skipped[0].reason, /entry 'host\.example\.com' dropped: .*hostnames/);
    const none = one('hosts allow = *.example.com\n');
    assert.deepEqual(none.modules, []);
    assert.match(none.skipped[0].reason, /would allow every host/);
  });

  test('hosts deny with a hostname skips the module (dropping it would let that host in)', () => {
    const r = one('hosts deny = 10.0.0.1 bad.example.com\n');
    assert.deepEqual(r.modules, []);
    assert.match(r.skipped[0].reason, /hosts deny entry 'bad\.example\.com'/);
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
    const bad = one('timeout = soon\nlist = maybe\nmax connections = 99999\nuse chroot = unset\n');
    assert.equal(bad.modules[0].timeout, 0);
    assert.equal(bad.modules[0].list, true);
    assert.equal(bad.modules[0].maxConnections, 0);
    assert.equal(bad.modules[0].useChroot, null);
    assert.deepEqual(bad.skipped.map((s) => s.name), ['m.list', 'm.max connections', 'm.timeout']);
    assert.match(one('max connections = -1\n').skipped[0].reason, /disables the module/);
    assert.match(one('read only = no\nwrite only = yes\nread only = yes\n').skipped[0].reason, /both set/);
  });

  test('unsupported parameters are listed, uid/gid with %VAR% or * are dropped', () => {
    const r = one('pre-xfer exec = /bin/check\nincoming chmod = Dg+s\nuid = %RSYNC_USER_NAME%\ngid = *\n');
    assert.equal(r.modules[0].uid, null);
    assert.equal(r.modules[0].gid, null);
    assert.deepEqual(r.skipped.map((s) => s.name), ['m.uid', 'm.gid', 'm.incoming chmod', 'm.pre-xfer exec']);
  });

  test('a hostile comment is dropped, not imported', () => {
    const r = one('comment = 100% \\\n  done\n');
    assert.equal(r.modules[0].comment, '');
    assert.match(r.skipped[0].reason, /'%'/);
  });

  test('invalid module names are skipped', () => {
    const r = importText('[global2]\npath = /data/modules/a\n[a b]\npath = /data/modules/b\n[x;y]\npath = /data/modules/c\n', ROOTS);
    assert.deepEqual(r.modules.map((m) => m.name), ['global2']);
    assert.deepEqual(r.skipped.map((s) => s.name), ['a b', 'x;y']);
  });

  test('parse problems (&include, unknown parameters) are reported as skipped', () => {
    const r = importText('&include /etc/rsyncd.d\n[m]\npath = /data/modules/m\nread_only = no\n', ROOTS);
    assert.deepEqual(r.skipped.map((s) => [s.kind, s.name]), [
      ['global', 'line 1'],
      ['global', 'line 4'],
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
