import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalParameterName, parseRsyncdConf, parseSecretsFile } from './parse';

describe('parseRsyncdConf', () => {
  test('continuation lines are joined like the daemon does (checked against rsync 3.5.0)', () => {
    // rsync lists this module's comment as "a    b": the space before '\' and the next line's indent are kept.
    const p = parseRsyncdConf('[m3]\n  path = /tmp\n  comment = a \\\n   b   \n');
    assert.equal(p.modules[0].params['comment'], 'a    b');
    assert.equal(p.modules[0].params['path'], '/tmp');
  });

  test('a backslash followed by trailing blanks still continues the line', () => {
    const p = parseRsyncdConf('[m]\npath = /a\\  \n/b\n');
    assert.equal(p.modules[0].params['path'], '/a/b');
  });

  test('continuation inside a parameter name and a section header', () => {
    const p = parseRsyncdConf('[long\\\nname]\nread \\\nonly = no\n');
    assert.equal(p.modules[0].name, 'longname');
    assert.equal(p.modules[0].params['read only'], 'no');
  });

  test('comments only at line start (after blanks); # later on a line is part of the value', () => {
    const p = parseRsyncdConf('# c1\n   ; c2\n\t# c3\n[m]\npath = /srv/x # not a comment\ncomment = ;kept\n');
    assert.deepEqual(p.modules[0].params, { path: '/srv/x # not a comment', comment: ';kept' });
    assert.deepEqual(p.problems, []);
  });

  test('section name ends at ], the rest of the line is ignored, whitespace is compressed', () => {
    const p = parseRsyncdConf('[  my \t mod ] trailing junk = x\npath = /p\n');
    assert.equal(p.modules[0].name, 'my mod');
    assert.deepEqual(p.modules[0].params, { path: '/p' });
    assert.deepEqual(p.global, {});
  });

  test('parameter names: case and whitespace are ignored, canonical man-page spelling is used', () => {
    const p = parseRsyncdConf('[m]\nReadOnly = no\n  HOSTS   ALLOW=1.2.3.4\nmaxconnections = 3\npost-xferexec = /x\n');
    assert.deepEqual(p.modules[0].params, {
      'read only': 'no',
      'hosts allow': '1.2.3.4',
      'max connections': '3',
      'post-xfer exec': '/x',
    });
    assert.equal(canonicalParameterName('Use  Chroot'), 'use chroot');
    assert.equal(canonicalParameterName('nonsense'), null);
  });

  test('underscores are NOT ignored (rsync 3.5.0 logs "Unknown Parameter"): reported with a hint', () => {
    const p = parseRsyncdConf('[m]\nread_only = no\n');
    assert.deepEqual(p.modules[0].params, {});
    assert.equal(p.problems.length, 1);
    assert.equal(p.problems[0].line, 2);
    assert.match(p.problems[0].message, /unknown parameter 'read_only'.*did you mean 'read only'/);
  });

  test('[global] switches back to the global section; modules inherit the globals in force at their header', () => {
    const p = parseRsyncdConf(
      'timeout = 10\n[a]\npath = /a\n[global]\ntimeout = 20\nmax connections = 2\n[b]\npath = /b\n[GLOBAL]\nport = 9000\n',
    );
    assert.deepEqual(p.global, { timeout: '20', 'max connections': '2', port: '9000' });
    assert.deepEqual(p.modules.map((m) => [m.name, m.inherited]), [
      ['a', { timeout: '10' }],
      ['b', { timeout: '20', 'max connections': '2' }],
    ]);
  });

  test('duplicate module sections merge (case-insensitively), later values win', () => {
    const p = parseRsyncdConf('[Data]\npath = /one\ncomment = first\n[other]\npath = /o\n[data]\npath = /two\n');
    assert.equal(p.modules.length, 2);
    assert.deepEqual(p.modules[0], {
      name: 'Data',
      line: 1,
      params: { path: '/two', comment: 'first' },
      inherited: {},
    });
  });

  test('&include and &merge are reported, not followed', () => {
    const p = parseRsyncdConf('&include /etc/rsyncd.d\n  &merge /etc/rsyncd.d\n[m]\npath = /x\n');
    assert.deepEqual(p.problems.map((x) => x.line), [1, 2]);
    assert.match(p.problems[0].message, /&include \/etc\/rsyncd\.d: directive not followed/);
    assert.match(p.problems[1].message, /&merge/);
    assert.equal(p.modules[0].params['path'], '/x');
  });

  test('CRLF files: CR is dropped from values', () => {
    const p = parseRsyncdConf('[m]\r\npath = /x\r\ncomment = hi\r\n');
    assert.deepEqual(p.modules[0].params, { path: '/x', comment: 'hi' });
  });

  test('malformed lines are reported with their line numbers', () => {
    const p = parseRsyncdConf('[m]\njust words\n= nameless\nbogus param = 1\nport = 1\n[unterminated\npath = /x\n');
    assert.deepEqual(
      p.problems.map((x) => x.line),
      [2, 3, 4, 5, 6],
    );
    assert.match(p.problems[0].message, /badly formed/);
    assert.match(p.problems[1].message, /without a name/);
    assert.match(p.problems[2].message, /unknown parameter 'bogus param'/);
    assert.match(p.problems[3].message, /global parameter 'port' in module \[m\]/);
    assert.match(p.problems[4].message, /closing '\]'/);
  });

  test('a NUL byte ends the file, as for rsync', () => {
    const p = parseRsyncdConf('[m]\npath = /x\n\0[evil]\npath = /\n');
    assert.deepEqual(p.modules.map((m) => m.name), ['m']);
    assert.match(p.problems[0].message, /NUL/);
  });

  test('a bogus backslash at line start is skipped', () => {
    const p = parseRsyncdConf('[m]\n\\ path = /x\n');
    assert.equal(p.modules[0].params['path'], '/x');
  });

  test('empty and whitespace-only values', () => {
    const p = parseRsyncdConf('[m]\ncomment =\nexclude =    \n');
    assert.deepEqual(p.modules[0].params, { comment: '', exclude: '' });
  });
});

describe('parseSecretsFile', () => {
  test('name:password lines; the password is everything after the first colon', () => {
    const r = parseSecretsFile('# comment\n\nalice:pa:ss word\r\nbob:x\n@staff:grouppw\nnocolon\n:nopw\nalice:second\n');
    assert.deepEqual(r.entries, [
      { name: 'alice', password: 'pa:ss word' },
      { name: 'bob', password: 'x' },
    ]);
    assert.deepEqual(
      r.problems.map((p) => p.line),
      [5, 6, 7, 8],
    );
    assert.match(r.problems[0].message, /@group/);
    assert.match(r.problems[3].message, /duplicate entry for 'alice'/);
  });
  test('empty password is kept (the mapping rejects it)', () => {
    assert.deepEqual(parseSecretsFile('a:\n').entries, [{ name: 'a', password: '' }]);
  });
});
