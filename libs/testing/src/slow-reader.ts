/**
 * Test support for the API's unit tests and the e2e tests: a WebSocket client that completes the handshake and then
 * never reads, on a socket whose receive buffer is made tiny (SO_RCVBUF, set before connecting, so the advertised
 * window stays small). Node cannot set SO_RCVBUF on a TCP socket, so the client is a few lines of Perl (in every base
 * system). With Linux's default loopback buffers (tens of MB) a never-reading Node socket absorbs a whole flood in
 * the kernel and the server never sees a backlog; with this one the backlog stays in the server's Node process, where the stall rule looks.
 */
import { spawn, ChildProcess } from 'node:child_process';

const SCRIPT = String.raw`
use strict; use Socket;
my ($port, $path, $auth, $rcvbuf) = @ARGV;
socket(my $s, PF_INET, SOCK_STREAM, getprotobyname('tcp')) or die "socket: $!";
setsockopt($s, SOL_SOCKET, SO_RCVBUF, pack('i', $rcvbuf)) or die "setsockopt: $!";
connect($s, sockaddr_in($port, inet_aton('127.0.0.1'))) or die "connect: $!";
my $key = join('', map { chr(65 + int(rand(26))) } 1..22) . '==';
syswrite($s, "GET $path HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
  . "Sec-WebSocket-Key: $key\r\nSec-WebSocket-Version: 13\r\n" . ($auth ne '' ? "Authorization: $auth\r\n" : '') . "\r\n");
my $head = '';
while ($head !~ /\r\n\r\n/) { sysread($s, $head, 1, length $head) or die "closed during the handshake\n"; }
my ($status) = $head =~ /^(\S+ \d+)/;
$| = 1; print "$status\n";
# Never read again: wait until the test closes our stdin.
while (<STDIN>) {}
`;

export interface SlowReader {
  /** The HTTP status line's start, e.g. "HTTP/1.1 101". */
  status: string;
  process: ChildProcess;
  close(): void;
}

export function slowReader(port: number, path: string, authorization = '', rcvbufBytes = 4096): Promise<SlowReader> {
  return new Promise((resolve, reject) => {
    const child = spawn('perl', ['-e', SCRIPT, String(port), path, authorization, String(rcvbufBytes)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`slow reader exited with ${code}: ${err}`)));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (!out.includes('\n')) return;
      resolve({
        status: out.trim(),
        process: child,
        close: () => {
          child.stdin!.end();
          child.kill('SIGKILL');
        },
      });
    });
  });
}
