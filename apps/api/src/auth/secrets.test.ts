import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bearerToken, generatePassword, generateSecretToken, isOriginAllowed, readCookie, sha256Hex } from './secrets';

describe('isOriginAllowed', () => {
  const cases: [string, string | undefined, string | undefined, string[], boolean][] = [
    ['absent origin (non-browser client)', undefined, 'hub.example:3000', [], true],
    ['same origin', 'http://hub.example:3000', 'hub.example:3000', [], true],
    ['same origin, https default port', 'https://hub.example', 'hub.example:443', [], true],
    ['host compared case-insensitively', 'http://HUB.example:3000', 'hub.example:3000', [], true],
    ['other host', 'http://evil.example', 'hub.example:3000', [], false],
    ['same host, other port', 'http://hub.example:4200', 'hub.example:3000', [], false],
    ['configured origin', 'http://localhost:4200', 'hub.example:3000', ['http://localhost:4200'], true],
    ['configured origin with trailing slash', 'http://localhost:4200', 'hub.example:3000', ['http://localhost:4200/'], true],
    ['opaque null origin', 'null', 'hub.example:3000', [], false],
    ['non-http scheme', 'file://hub.example:3000', 'hub.example:3000', [], false],
    ['no Host header', 'http://hub.example', undefined, [], false],
  ];
  for (const [name, origin, host, allowed, expected] of cases) {
    it(name, () => assert.equal(isOriginAllowed(origin, host, allowed), expected));
  }
});

describe('bearerToken', () => {
  const cases: [string | undefined, string | null][] = [
    [undefined, null],
    ['Bearer rh_abc-DEF_1', 'rh_abc-DEF_1'],
    ['bearer   rhs_x', 'rhs_x'],
    ['Basic dXNlcjpwYXNz', null],
    ['Bearer', null],
    ['Bearer two tokens', null],
  ];
  for (const [header, expected] of cases) {
    it(String(header), () => assert.equal(bearerToken(header), expected));
  }
});

describe('readCookie', () => {
  const cases: [string | undefined, string | null][] = [
    [undefined, null],
    ['rsynchub_session=rhs_abc', 'rhs_abc'],
    ['a=1; rsynchub_session=rhs_abc; b=2', 'rhs_abc'],
    ['x_rsynchub_session=nope', null],
    ['rsynchub_session="quoted"', 'quoted'],
    ['rsynchub_session=a%20b', 'a b'],
  ];
  for (const [header, expected] of cases) {
    it(String(header), () => assert.equal(readCookie(header, 'rsynchub_session'), expected));
  }
});

describe('secret generation', () => {
  it('tokens carry the prefix and 32 random bytes in base64url', () => {
    const a = generateSecretToken('rh_');
    const b = generateSecretToken('rh_');
    assert.match(a, /^rh_[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a, b);
  });
  it('generated passwords are long and differ', () => {
    const p = generatePassword();
    assert.ok(p.length >= 24);
    assert.notEqual(p, generatePassword());
  });
  it('sha256Hex is the hex SHA-256', () => {
    assert.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
