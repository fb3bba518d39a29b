import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import { listeningInodes, processListensOn } from './listening-sockets';

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';

test('listeningInodes: LISTEN rows (st 0A) on the port only, IPv4 and IPv6 tables alike', () => {
  const cases: [string, string, number, string[]][] = [
    ['IPv4 loopback listener', '   0: 0100007F:22B8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4480178 1 0 100 0 0 10 0', 8888, ['4480178']],
    ['another port', '   0: 0100007F:22B9 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4480178 1 0 100 0 0 10 0', 8888, []],
    ['an established connection on the port is not a listener', '   1: 0100007F:22B8 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 4481000 1 0 20 4 30 10 -1', 8888, []],
    ['TIME_WAIT has inode 0', '   2: 0100007F:22B8 0100007F:D432 06 00000000:00000000 03:00001000 00000000     0        0 0 3 0', 8888, []],
    ['IPv6 wildcard listener', '   0: 00000000000000000000000000000000:22B8 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 991 1 0 100 0 0 10 0', 8888, ['991']],
    ['a short or garbled line', '   0: 0100007F:22B8 0A', 8888, []],
  ];
  for (const [name, row, port, expected] of cases) assert.deepEqual(listeningInodes(HEADER + row + '\n', port), expected, name);
});

test('processListensOn: true for the process that listens, false for another process and another port', async (t) => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  assert.equal(processListensOn(process.pid, port), true);
  const other = spawn('sleep', ['30']);
  t.after(() => other.kill('SIGKILL'));
  // Same network namespace, same /proc/<pid>/net/tcp rows: but the socket is not among its descriptors.
  assert.equal(processListensOn(other.pid!, port), false);
  assert.equal(processListensOn(process.pid, port === 65535 ? 65534 : port + 1), false);
  server.close();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(processListensOn(process.pid, port), false, 'closed');
  assert.equal(processListensOn(2 ** 22 + 12345, port), false, 'a process that does not exist listens on nothing');
});
