/*
 * rsynchub-gate: the RSYNC_CONNECT_PROG of the agent's warm standby rsync client (see src/warm-standby.ts).
 *
 * The agent starts the next ordinary run's rsync before the edit happens. rsync does its start-up (exec, dynamic
 * linking, option parsing, opening the password file's directory...) and then, instead of connecting, runs this program
 * with its stdin/stdout as rsync's connection. The gate holds BEFORE connecting to the daemon: an idle standby opens no
 * connection (no `max connections` slot, no session in the target's history, no daemon `timeout`). It waits for one
 * byte on the inherited fd named by RSYNCHUB_GATE_FD:
 *   'g'     : connect to RSYNCHUB_GATE_HOST:RSYNCHUB_GATE_PORT (within RSYNCHUB_GATE_TIMEOUT_MS, 0 = no limit), set
 *             TCP_NODELAY, then relay bytes both ways with splice() (no copy through user space) until both sides end;
 *   EOF/else: the agent discarded the standby (or died): exit 1 without connecting; rsync then ends on its own.
 * A connect failure is printed the way rsync prints its own ("rsync: failed to connect to ...: Connection refused
 * (111)"), so the agent classifies it as before (a retryable connection error).
 * The name is resolved after the go (as a cold rsync resolves at each run; for an address literal that costs nothing).
 * Once released, the process renames itself (comm) "rsynchub-relay".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *host, *port_s;

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static void failed_to_connect(const char *why, int err) {
  if (err) fprintf(stderr, "rsync: failed to connect to %s (port %s): %s (%d)\n", host, port_s, why, err);
  else fprintf(stderr, "rsync: failed to connect to %s (port %s): %s\n", host, port_s, why);
  exit(1);
}

static struct addrinfo *resolve(int must) {
  /* must: fail as rsync would (the caller needs an address) */
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  int g = getaddrinfo(host, port_s, &hints, &res);
  if (g != 0) {
    if (must) failed_to_connect(gai_strerror(g), 0);
    return NULL;
  }
  return res;
}

static int connect_tcp(struct addrinfo *res, long timeout_ms) {
  long deadline = timeout_ms > 0 ? now_ms() + timeout_ms : -1;
  int last = ECONNREFUSED;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    int s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (s < 0) { last = errno; continue; }
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    set_nonblock(s);
    if (connect(s, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) { last = errno; close(s); continue; }
    struct pollfd p = {s, POLLOUT, 0};
    int r;
    for (;;) {
      long left = deadline < 0 ? -1 : deadline - now_ms();
      if (deadline >= 0 && left < 0) left = 0;
      r = poll(&p, 1, (int)left);
      if (r >= 0 || errno != EINTR) break;
    }
    if (r == 0) { close(s); failed_to_connect("connection timed out (connectTimeoutSec)", ETIMEDOUT); }
    int soerr = 0;
    socklen_t len = sizeof soerr;
    getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &len);
    if (soerr != 0) { last = soerr; close(s); continue; }
    return s;
  }
  failed_to_connect(strerror(last), last);
  return -1;
}

/* One direction of the relay: from -> pipe -> to. */
struct dir {
  int from, to;
  int pipe[2];
  size_t buffered; /* bytes in the pipe */
  int eof;         /* from ended: shut `to` down for writing once the pipe is empty */
  int done;
};

/* Moves what it can; returns -1 on a fatal error. */
static int pump(struct dir *d, int can_read, int can_write) {
  if (can_read && !d->eof) {
    for (;;) {
      ssize_t n = splice(d->from, NULL, d->pipe[1], NULL, 1 << 20, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d->buffered += (size_t)n;
        /* ACK what was read now. rsync's end of its connect-program socket (a loopback TCP pair) keeps Nagle on
           (--sockopts is not applied to it), so its next small write waits for this ACK: with the kernel's delayed
           ACK that cost ~40 ms per small push, measured. The kernel drops quick-ack mode again by itself, hence on
           every read. The same on the daemon's socket: the daemon leaves Nagle on too. */
        int one = 1;
        setsockopt(d->from, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
        continue;
      }
      if (n == 0) { d->eof = 1; break; }
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      if (errno == ECONNRESET) { d->eof = 1; break; }
      return -1;
    }
  }
  if (d->buffered > 0 && (can_write || 1)) {
    for (;;) {
      if (d->buffered == 0) break;
      ssize_t n = splice(d->pipe[0], NULL, d->to, NULL, d->buffered, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) { d->buffered -= (size_t)n; continue; }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) break;
      return -1; /* EPIPE, ECONNRESET: the other side is gone */
    }
  }
  if (d->eof && d->buffered == 0 && !d->done) {
    shutdown(d->to, SHUT_WR);
    d->done = 1;
  }
  return 0;
}

int main(void) {
  host = getenv("RSYNCHUB_GATE_HOST");
  port_s = getenv("RSYNCHUB_GATE_PORT");
  const char *fd_s = getenv("RSYNCHUB_GATE_FD");
  const char *to_s = getenv("RSYNCHUB_GATE_TIMEOUT_MS");
  if (!host || !port_s || !fd_s) {
    fprintf(stderr, "rsynchub-gate: RSYNCHUB_GATE_HOST, RSYNCHUB_GATE_PORT and RSYNCHUB_GATE_FD are required\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  int gate = atoi(fd_s);
  long timeout_ms = to_s ? atol(to_s) : 0;

  char c = 0;
  ssize_t n;
  while ((n = read(gate, &c, 1)) < 0 && errno == EINTR) {}
  if (n != 1 || c != 'g') return 1; /* discarded (or the agent is gone): never connect */
  close(gate);
  /* Released: the process name tells a run in flight from a standby still waiting (the bench's idle check reads it). */
  prctl(PR_SET_NAME, "rsynchub-relay", 0, 0, 0);

  /* Resolved now, not while waiting: a standby may wait for hours, and a cold rsync resolves at each run too. */
  struct addrinfo *res = resolve(1);
  int s = connect_tcp(res, timeout_ms);
  freeaddrinfo(res);

  /* rsync's end is fd 0 and fd 1 (the same socket). */
  int one = 1;
  setsockopt(0, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  set_nonblock(0);
  set_nonblock(s);
  struct dir up = {0, s, {-1, -1}, 0, 0, 0}, down = {s, 1, {-1, -1}, 0, 0, 0};
  if (pipe2(up.pipe, O_CLOEXEC | O_NONBLOCK) != 0 || pipe2(down.pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    perror("rsynchub-gate: pipe");
    return 1;
  }
  fcntl(up.pipe[1], F_SETPIPE_SZ, 1 << 20);
  fcntl(down.pipe[1], F_SETPIPE_SZ, 1 << 20);
  /* Until rsync has closed its end (it exited: nothing the daemon still sends could reach it) and all it sent was
     passed on. Waiting for the daemon's own close as well would hold rsync's stderr (inherited) open for that long:
     the agent sees a run end when its output ends, ~50 ms later, measured. */
  while (!up.done) {
    struct pollfd p[2];
    /* fd 0 (rsync) and s (daemon): read when the direction out of it is open and its pipe is empty, write when the
       direction into it has bytes waiting. */
    short e0 = 0, es = 0;
    if (!up.eof && up.buffered == 0) e0 |= POLLIN;
    if (down.buffered > 0) e0 |= POLLOUT;
    if (!down.eof && down.buffered == 0) es |= POLLIN;
    if (up.buffered > 0) es |= POLLOUT;
    p[0] = (struct pollfd){0, e0, 0};
    p[1] = (struct pollfd){s, es, 0};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    int r0 = p[0].revents, rs = p[1].revents;
    if (pump(&up, r0 & (POLLIN | POLLHUP | POLLERR), rs & POLLOUT) < 0) return 0;
    if (pump(&down, rs & (POLLIN | POLLHUP | POLLERR), r0 & POLLOUT) < 0) return 0;
    if ((r0 & POLLERR) && !(r0 & POLLIN)) return 0;
    if ((rs & POLLERR) && !(rs & POLLIN)) return 0;
  }
  return 0;
}
