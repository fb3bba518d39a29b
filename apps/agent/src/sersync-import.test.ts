import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dropUpdateOption, importSersyncXml, sersyncRegexToRsyncPattern } from './sersync-import';
import { validateConfig } from './config';

// Fixtures are not compiled; read them from the source tree next to dist.
const fixture = (name: string) => fs.readFileSync(path.join(__dirname, '..', 'src', 'fixtures', name), 'utf8');

test('stock sersync 2.5.4 confxml.xml -> equivalent agent config, unmapped items as warnings', () => {
  const { config, warnings } = importSersyncXml(fixture('sersync-confxml.xml'));
  const validated = validateConfig(config);
  assert.deepEqual(validated.watches, [{
    path: '/opt/tongbu',
    // auth start="false" and userDefinedPort start="false": anonymous module on the default port
    remotes: [{ host: '127.0.0.1', port: 873, module: 'tongbu1' }],
    rsyncParams: ['-artz'], // -u dropped (rollbacks), with a warning
    excludes: [], // filter start="false"
    excludeRegex: [],
    fullSyncExcludes: [],
    // delete, createFolder, closeWrite, moveFrom, moveTo on; createFile, attrib, modify off
    events: { delete: true, create: true, modify: true },
  }]);
  assert.equal(validated.timeoutSec, 60); // timeout start="false": the agent's default I/O timeout
  assert.deepEqual(validated.fullSync, { onStart: false, intervalSec: 0 }); // crontab start="false"
  assert.equal(validated.logLevel, 'info'); // debug start="false"
  const text = warnings.join('\n');
  assert.match(text, /<host hostip="localhost" port="8008">/);
  assert.match(text, /failLog path="\/tmp\/rsync_fail_log\.sh"/);
  assert.match(text, /plugin sections \(command, socket, refreshCDN\)/);
  assert.doesNotMatch(text, /ssh/); // ssh start="false": nothing to report
  assert.match(text, /dropped -u, now "-artz".*newer on the target.*--keep-update/);
  // sersync had no encryption: plaintext is kept (no remote gets tls) and the warning says how to turn TLS on.
  assert.match(text, /1 remote\(s\) imported as plaintext rsync \(port 873\).*unencrypted.*tls: true.*fingerprint: sha256:.*caFile/);
  assert.ok(validated.watches[0].remotes.every((r) => !('tls' in r)));
});

test('the how-to\'s variant (step 3.3): remote 107.170.213.95::myhub1 with auth admin1 and /etc/rsync.pas', () => {
  const { config } = importSersyncXml(fixture('sersync-confxml-seed.xml'));
  const v = validateConfig(config);
  assert.equal(v.watches[0].path, '/home/user1/source');
  assert.deepEqual(v.watches[0].remotes, [{ host: '107.170.213.95', port: 873, module: 'myhub1', user: 'admin1', passwordFile: '/etc/rsync.pas' }]);
});

test('every switch turned on maps: filter, port, timeout, crontab, debug; ssh/xfs/plugin reported', () => {
  let xml = fixture('sersync-confxml.xml');
  const on = (re: RegExp, to: string) => {
    assert.match(xml, re);
    xml = xml.replace(re, to);
  };
  on(/<filter start="false">/, '<filter start="true">');
  on(/<debug start="false"\/>/, '<debug start="true"/>');
  on(/<fileSystem xfs="false"\/>/, '<fileSystem xfs="true"/>');
  on(/<userDefinedPort start="false" port="874"\/>/, '<userDefinedPort start="true" port="874"/>');
  on(/<timeout start="false" time="100"\/>/, '<timeout start="true" time="100"/>');
  on(/<auth start="false"/, '<auth start="true"');
  on(/<ssh start="false"\/>/, '<ssh start="true"/>');
  on(/<crontab start="false" schedule="600">/, '<crontab start="true" schedule="600">');
  on(/<crontabfilter start="false">/, '<crontabfilter start="true">');
  on(/<delete start="true"\/>/, '<delete start="false"/>');
  on(/<plugin start="false" name="command"\/>/, '<plugin start="true" name="command"/>');
  on(/<remote ip="127.0.0.1" name="tongbu1"\/>/, '<remote ip="127.0.0.1" name="tongbu1"/><remote ip="10.0.0.2" name="tongbu2"/>');
  const { config, warnings } = importSersyncXml(xml);
  const v = validateConfig(config);
  assert.deepEqual(v.watches[0].remotes, [
    { host: '127.0.0.1', port: 874, module: 'tongbu1', user: 'root', passwordFile: '/etc/rsync.pas' },
    { host: '10.0.0.2', port: 874, module: 'tongbu2', user: 'root', passwordFile: '/etc/rsync.pas' },
  ]);
  assert.deepEqual(v.watches[0].excludeRegex, ['(.*)\\.svn', '(.*)\\.gz', '^info/*', '^static/*']);
  // One rule: the regexes, matched in full by the agent for every run kind; no approximate rsync patterns beside them.
  assert.deepEqual(v.watches[0].excludes, []);
  assert.deepEqual(v.watches[0].fullSyncExcludes, ['*.php', 'info/*']);
  assert.equal(v.watches[0].events.delete, false);
  assert.equal(v.timeoutSec, 100);
  assert.deepEqual(v.fullSync, { onStart: false, intervalSec: 36_000 });
  assert.equal(v.logLevel, 'debug');
  const text = warnings.join('\n');
  assert.match(text, /ssh start="true"/);
  assert.match(text, /xfs="true"/);
  assert.match(text, /plugin start="true" name="command"/);
});

test('sersyncRegexToRsyncPattern', () => {
  const cases: [string, string | null][] = [
    ['(.*)\\.svn', '*.svn'], ['(.*)\\.gz', '*.gz'], ['^info/*', '/info/'], ['^static/*', '/static/'], ['a|b', null], ['(.*)\\.(php|sh)', null],
  ];
  for (const [expr, want] of cases) assert.equal(sersyncRegexToRsyncPattern(expr), want, expr);
});

test('not a sersync file: clear errors', () => {
  assert.throws(() => importSersyncXml('<foo/>'), /no <head>/);
  assert.throws(() => importSersyncXml('<head version="2.5"><sersync></sersync></head>'), /no <localpath/);
});

test('import keeps -u only when asked (--keep-update), and says why either way', () => {
  const xml = fixture('sersync-confxml.xml');
  const kept = importSersyncXml(xml, { keepUpdate: true });
  assert.equal((kept.config.watches as { rsyncParams: string }[])[0].rsyncParams, '-artuz');
  assert.match(kept.warnings.join('\n'), /kept -u/);
  const cases: [string, string | null][] = [['-artuz', '-artz'], ['-a --update -z', '-a -z'], ['-u', ''], ['-az', null], ['-a --exclude=u', null]];
  for (const [params, want] of cases) assert.equal(dropUpdateOption(params), want, params);
});

test('the XML is decoded with the encoding it declares (stock files: ISO-8859-1)', () => {
  const xml = fixture('sersync-confxml.xml').replace('/opt/tongbu', '/srv/caf\u00e9');
  assert.match(xml, /encoding="ISO-8859-1"/);
  const latin1 = Buffer.from(xml, 'latin1');
  const w = (importSersyncXml(latin1).config.watches as { path: string }[])[0];
  assert.equal(w.path, '/srv/caf\u00e9');
  const gbk = Buffer.concat([Buffer.from('<?xml version="1.0" encoding="GBK"?>\n<head version="2.5"><sersync><localpath watch="/srv/'), Buffer.from([0xd6, 0xd0]), Buffer.from('"><remote ip="h" name="m"/></localpath></sersync></head>')]);
  assert.equal((importSersyncXml(gbk).config.watches as { path: string }[])[0].path, '/srv/\u4e2d');
  assert.throws(() => importSersyncXml(Buffer.from('<?xml version="1.0" encoding="x-nonsense"?><head/>')), /declares encoding "x-nonsense"/);
});
