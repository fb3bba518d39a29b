import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LoginThrottle, throttleAddress } from './login-throttle';

const limits = { perUserAndIp: 3, perIp: 5, windowMs: 60_000, maxKeys: 100 };

describe('LoginThrottle', () => {
  it('allows attempts below the per-(user, ip) limit and blocks at it until the window passes', () => {
    const t = new LoginThrottle(limits);
    t.recordFailure('alice', '10.0.0.1', 0);
    t.recordFailure('alice', '10.0.0.1', 10_000);
    assert.equal(t.retryAfterSeconds('alice', '10.0.0.1', 10_000), 0);
    t.recordFailure('alice', '10.0.0.1', 20_000);
    // The oldest failure (t=0) leaves the window at 60 s.
    assert.equal(t.retryAfterSeconds('alice', '10.0.0.1', 20_000), 40);
    assert.equal(t.retryAfterSeconds('alice', '10.0.0.1', 59_500), 1);
    assert.equal(t.retryAfterSeconds('alice', '10.0.0.1', 60_001), 0);
  });

  it('keys by username case-insensitively and by ip', () => {
    const t = new LoginThrottle(limits);
    for (let i = 0; i < 3; i++) t.recordFailure('Alice', '10.0.0.1', i);
    assert.ok(t.retryAfterSeconds('alice', '10.0.0.1', 3) > 0);
    assert.equal(t.retryAfterSeconds('alice', '10.0.0.2', 3), 0, 'another ip is not blocked');
    assert.equal(t.retryAfterSeconds('bob', '10.0.0.1', 3), 0, 'another user from the ip is not blocked yet');
  });

  it('blocks an ip that fails with many usernames', () => {
    const t = new LoginThrottle(limits);
    for (let i = 0; i < 5; i++) t.recordFailure(`user${i}`, '10.0.0.9', i);
    assert.ok(t.retryAfterSeconds('fresh', '10.0.0.9', 10) > 0);
    assert.equal(t.retryAfterSeconds('fresh', '10.0.0.8', 10), 0);
  });

  it('a success clears the pair, not the ip counter', () => {
    const t = new LoginThrottle(limits);
    t.recordFailure('alice', '10.0.0.1', 0);
    t.recordFailure('alice', '10.0.0.1', 1);
    t.recordSuccess('alice', '10.0.0.1');
    t.recordFailure('alice', '10.0.0.1', 2);
    t.recordFailure('alice', '10.0.0.1', 3);
    assert.equal(t.retryAfterSeconds('alice', '10.0.0.1', 4), 0);
    t.recordFailure('alice', '10.0.0.1', 4);
    assert.ok(t.retryAfterSeconds('alice', '10.0.0.1', 5) > 0, '5 ip failures in the window');
  });

  it('bounds memory by evicting the least recently failed keys', () => {
    const t = new LoginThrottle({ ...limits, maxKeys: 10 });
    for (let i = 0; i < 3; i++) t.recordFailure('target', '10.0.0.1', i);
    for (let i = 0; i < 20; i++) t.recordFailure(`spray${i}`, `10.1.0.${i}`, 100 + i);
    assert.equal(t.retryAfterSeconds('target', '10.0.0.1', 200), 0, 'evicted');
    assert.ok((t as unknown as { failures: Map<string, number[]> }).failures.size <= 10);
  });

  it('puts addresses in lanes: known after a success, suspect after 3 failures, unknown otherwise', () => {
    const t = new LoginThrottle({ ...limits, suspectAfter: 3, knownForMs: 1000 });
    assert.equal(t.laneFor('10.0.0.1', 0), 'unknown');
    t.recordFailure('a', '10.0.0.1', 0);
    t.recordFailure('b', '10.0.0.1', 1);
    assert.equal(t.laneFor('10.0.0.1', 2), 'unknown');
    t.recordFailure('c', '10.0.0.1', 2);
    assert.equal(t.laneFor('10.0.0.1', 3), 'suspect');
    assert.equal(t.laneFor('10.0.0.2', 3), 'unknown', 'other addresses are not affected');
    t.recordSuccess('admin', '10.0.0.2', 10);
    assert.equal(t.laneFor('10.0.0.2', 500), 'trusted');
    assert.equal(t.laneFor('10.0.0.2', 1011), 'unknown', 'known only for a while');
  });
  it('counts an IPv6 client by its /64 (one host owns a whole /64: a fresh address per attempt must not get a fresh budget)', () => {
    const t = new LoginThrottle(limits);
    for (let i = 1; i <= 5; i++) t.recordFailure('alice', `2001:db8:1:2::${i.toString(16)}`, i);
    assert.ok(t.retryAfterSeconds('alice', '2001:db8:1:2:ffff:ffff:ffff:ffff', 10) > 0, 'per (user, /64)');
    assert.ok(t.retryAfterSeconds('bob', '2001:db8:1:2::abcd', 10) > 0, 'per /64, any username');
    assert.equal(t.retryAfterSeconds('alice', '2001:db8:1:3::1', 10), 0, 'the next /64 is someone else');
  });

  it('throttleAddress: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 as its /64', () => {
    const table: [string, string][] = [
      ['10.0.0.1', '10.0.0.1'],
      ['::ffff:10.0.0.1', '10.0.0.1'],
      ['::FFFF:192.0.2.7', '192.0.2.7'],
      ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
      ['2001:DB8:1:2:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
      ['2001:0db8:0001:0002::', '2001:db8:1:2::/64'],
      ['2001:db8::1', '2001:db8:0:0::/64'],
      ['::1', '0:0:0:0::/64'],
      ['fe80::1%eth0', 'fe80:0:0:0::/64'],
      ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
      ['unknown', 'unknown'],
    ];
    for (const [input, want] of table) assert.equal(throttleAddress(input), want, input);
  });
});
