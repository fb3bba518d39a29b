/*
 * rsynchub-spawn: the agent's rsync launcher (apps/agent/src/rsync-launcher.ts). Started once by the agent; starts each
 * rsync run with posix_spawn on request and relays the run's stdin, stdout, stderr and exit status.
 *
 * Why: node's child_process.spawn forks the whole agent (a big process) and blocks its event loop 6-8 ms per run under
 * load, which is most of the gap to lsyncd on a single edit. posix_spawn from this small process (glibc: clone with
 * CLONE_VM|CLONE_VFORK) costs well under a millisecond and does not block the agent at all.
 *
 * The control channel is fd 3 (a unix stream socket from node's stdio 'pipe'). Every frame, both ways:
 *   u32 length (of what follows, little-endian), u8 type, payload.
 * Requests (agent -> launcher), integers u32 little-endian, a string = u32 length + bytes (no NUL inside):
 *   'S' id flags exe cwd argc arg... envc env... stdinLen stdinBytes   start a run; flags: 1 = stdin is a pipe fed with
 *        stdinBytes, then closed (else /dev/null); 2 = gate: report the pid, but exec only after 'G' (the TLS relay
 *        must know the pid before rsync can connect); 4 = stdin held: a pipe fed with stdinBytes and then with 'W'
 *        bytes, kept OPEN until 'R'; 8 = go pipe: the child gets the read end of a pipe as fd 3, whose write end only
 *        this launcher holds ('R' writes 'g' to it and closes it). 4 and 8 are a warm standby (src/warm-standby.ts:
 *        rsync started ahead of its run, its connect program rsynchub-gate / the TLS connector waiting on fd 3 for 'g');
 *        they cannot be combined with 2 (refused with 'F')
 *   'K' id signal     send a signal to the run's process (if it has not exited)
 *   'G' id            let a gated run exec
 *   'W' id bytes      append bytes to a held stdin (ignored unless the run's stdin is still held)
 *   'R' id            release a standby, in this order: its held stdin is closed once all bytes written so far have
 *                     been written (never blocking: the poll loop writes them as rsync reads), and 'g' is written to
 *                     its go pipe, which is closed. Sent together with the 'W's of the path list, the whole release is
 *                     one write of the agent's. A second 'R', or an 'R' after the run ended, changes nothing
 *   'D' id            discard a standby: its held stdin and go pipe are closed WITHOUT 'g' (the gate exits without
 *                     connecting) and its process group is sent SIGKILL (it is still ours: the pid is not reaped yet)
 *   'A' id            the agent has read the run's 'X' (or 'F'): its process may be reaped now
 *   'C'               close: start nothing more; standbys not released yet are discarded as by 'D' (their go pipes
 *                     close: they end without connecting); exit once every run has ended and been acknowledged
 * Requests naming an unknown id (never started, or already acknowledged) are ignored.
 * A request longer than MAX_REQUEST is refused (the launcher exits with a message; the agent sends larger runs
 * through node's spawn), so a corrupt length cannot make it allocate gigabytes.
 * Replies (launcher -> agent):
 *   'P' id pid        started (for a gated run: forked, waiting for 'G')
 *   'F' id errno text could not start (no 'X' follows)
 *   'O' id bytes      stdout data        'E' id bytes   stderr data
 *   'X' id code sig   exited (code -1 when killed by signal sig), after all its stdout and stderr
 * A run's process is reaped only after the agent acknowledged its end ('A'): until then its pid stays taken (a zombie),
 * so the agent's direct kill (its watchdog does not wait for a hung launcher) can never reach a process that got the pid
 * again. A gated run's exec is awaited in the poll loop, never by a blocking read, so a child stopped (SIGSTOP) before
 * its exec cannot freeze the launcher and the other runs.
 * Like node's spawn with detached: true, each rsync gets a session of its own (no controlling terminal, so no password
 * prompt can hang it), default signal dispositions and an empty signal mask. When the agent goes away (EOF on fd 3)
 * the launcher exits; runs still going keep running, as they did with node's spawn. A standby's go pipe and held stdin
 * are held by this process only (close-on-exec: no other run inherits them), so when the launcher ends (the agent died,
 * or the launcher was killed) every standby still waiting sees EOF on fd 3 and ends without connecting.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define CTL 3
/* The largest request accepted: a path list of 100,000 paths of 2 KiB fits; the agent never sends more. */
#define MAX_REQUEST (256u << 20)

extern char **environ;

struct run {
  uint32_t id;
  pid_t pid;
  int in, out, err, gate; /* -1 when closed */
  int go;                 /* standbys (flag 8): write end of the child's fd 3 pipe, until 'R' ('g') or 'D' */
  int held;               /* flag 4: stdin stays open when drained, until 'R' */
  int ef;                 /* gated runs: error pipe (errno of a failed chdir/exec; EOF once exec succeeded) */
  char *data;             /* stdin bytes still to write */
  size_t len, off, cap;
  int exited, code, sig, failed; /* exited: seen by waitid(WNOWAIT), not reaped yet; code -1 = killed by sig */
  int reported, acked;            /* 'X' (or 'F') sent; the agent's 'A' received: then it is reaped and freed */
};

static struct run **runs;
static size_t nruns, capruns;

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) { fputs("rsynchub-spawn: out of memory\n", stderr); exit(3); }
  return q;
}

/* ---- replies: blocking writes on the control socket (the agent always reads; a dead agent ends us) ---- */
static void put32(unsigned char *p, uint32_t v) { p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }
static uint32_t get32(const unsigned char *p) { return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24); }

static void write_all(const void *buf, size_t n) {
  const char *p = buf;
  while (n) {
    ssize_t w = send(CTL, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      exit(0); /* the agent is gone */
    }
    p += w;
    n -= (size_t)w;
  }
}

static void reply(char type, uint32_t id, const uint32_t *nums, int nnums, const void *bytes, size_t nbytes) {
  unsigned char head[5 + 4 + 8];
  size_t h = 0;
  put32(head, (uint32_t)(1 + 4 + 4 * nnums + nbytes));
  head[4] = (unsigned char)type;
  put32(head + 5, id);
  h = 9;
  for (int i = 0; i < nnums; i++, h += 4) put32(head + h, nums[i]);
  write_all(head, h);
  if (nbytes) write_all(bytes, nbytes);
}

static void fail_run(uint32_t id, int err, const char *where) {
  char text[256];
  snprintf(text, sizeof text, "%s: %s", where, strerror(err));
  uint32_t e = (uint32_t)err;
  reply('F', id, &e, 1, text, strlen(text));
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void free_run(size_t i) {
  struct run *r = runs[i];
  close_fd(&r->in);
  close_fd(&r->out);
  close_fd(&r->err);
  close_fd(&r->gate);
  close_fd(&r->go);
  close_fd(&r->ef);
  free(r->data);
  free(r);
  runs[i] = runs[--nruns];
}

static struct run *find_run(uint32_t id, int failed_too) {
  for (size_t i = 0; i < nruns; i++)
    if (runs[i]->id == id && (failed_too || !runs[i]->failed)) return runs[i];
  return NULL;
}

/* ---- request parsing ---- */
struct reader { const unsigned char *p, *end; int bad; };
static uint32_t rd32(struct reader *r) {
  if (r->end - r->p < 4) { r->bad = 1; return 0; }
  uint32_t v = get32(r->p);
  r->p += 4;
  return v;
}
/* A NUL-terminated copy of a string field; NULL (and bad) when short or holding a NUL byte. */
static char *rdstr(struct reader *r, int *has_nul) {
  uint32_t n = rd32(r);
  if (r->bad || (size_t)(r->end - r->p) < n) { r->bad = 1; return NULL; }
  if (memchr(r->p, 0, n)) *has_nul = 1;
  char *s = xrealloc(NULL, (size_t)n + 1);
  memcpy(s, r->p, n);
  s[n] = 0;
  r->p += n;
  return s;
}

static void free_list(char **v) {
  if (!v) return;
  for (char **p = v; *p; p++) free(*p);
  free(v);
}

static char **rdlist(struct reader *r, int *has_nul) {
  uint32_t n = rd32(r);
  if (r->bad || n > (size_t)(r->end - r->p) / 4) { r->bad = 1; return NULL; }
  char **v = xrealloc(NULL, sizeof(char *) * ((size_t)n + 1));
  uint32_t i = 0;
  while (i < n) {
    char *s = rdstr(r, has_nul);
    if (!s) break;
    v[i++] = s;
  }
  v[i] = NULL;
  if (r->bad) { free_list(v); return NULL; }
  return v;
}

static int set_cloexec_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
static int closing;

static sigset_t all_signals;

/* The gated start: fork (this process is small), wait for 'G' on the gate pipe, then exec. errfd reports a failed
 * chdir or exec (errno, 4 bytes) and closes on a successful exec. */
static pid_t gated_start(const char *exe, const char *cwd, char **argv, char **envp, int in, int out, int err, int gate_rd, int errfd) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  sigset_t none;
  sigemptyset(&none);
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, NULL);
  setsid();
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) goto fail;
  if (cwd[0] && chdir(cwd) < 0) goto fail;
  char go;
  ssize_t n;
  while ((n = read(gate_rd, &go, 1)) < 0 && errno == EINTR) {}
  if (n != 1) _exit(127); /* cancelled */
  execve(exe, argv, envp);
fail:;
  int e = errno;
  (void)!write(errfd, &e, sizeof e);
  _exit(127);
}

static void start_run(const unsigned char *p, size_t n) {
  struct reader rd = { p, p + n, 0 };
  uint32_t id = rd32(&rd), flags = rd32(&rd);
  int has_nul = 0;
  char *exe = NULL, *cwd = NULL, **argv = NULL, **envp = NULL;
  if (!rd.bad) exe = rdstr(&rd, &has_nul);
  if (!rd.bad) cwd = rdstr(&rd, &has_nul);
  if (!rd.bad) argv = rdlist(&rd, &has_nul);
  if (!rd.bad) envp = rdlist(&rd, &has_nul);
  uint32_t inlen = rd.bad ? 0 : rd32(&rd);
  if (!rd.bad && (size_t)(rd.end - rd.p) != inlen) rd.bad = 1;
  int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 }, gate[2] = { -1, -1 }, ef[2] = { -1, -1 }, go[2] = { -1, -1 };
  if (rd.bad || has_nul) {
    fail_run(id, EINVAL, rd.bad ? "malformed request" : "an argument, the environment or the cwd holds a NUL byte");
    goto done;
  }
  if ((flags & 2) && (flags & 12)) { fail_run(id, EINVAL, "a gated run cannot be a standby (flags 2 with 4 or 8)"); goto done; }
  if (flags & 5 ? set_cloexec_pipe(in) < 0 : (in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) { fail_run(id, errno, "stdin"); goto done; }
  if (set_cloexec_pipe(out) < 0 || set_cloexec_pipe(err) < 0) { fail_run(id, errno, "pipe"); goto done; }
  if ((flags & 8) && set_cloexec_pipe(go) < 0) { fail_run(id, errno, "pipe"); goto done; }
  pid_t pid = -1;
  if (flags & 2) {
    if (set_cloexec_pipe(gate) < 0 || pipe2(ef, O_CLOEXEC | O_NONBLOCK) < 0) { fail_run(id, errno, "pipe"); goto done; }
    pid = gated_start(exe, cwd, argv, envp, in[0], out[1], err[1], gate[0], ef[1]);
    if (pid < 0) { fail_run(id, errno, "fork"); goto done; }
    close_fd(&gate[0]);
    close_fd(&ef[1]);
  } else {
    posix_spawnattr_t at;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_init(&fa);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all_signals);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    if (go[0] >= 0) posix_spawn_file_actions_adddup2(&fa, go[0], 3); /* dup2 clears close-on-exec: the child keeps it */
    if (cwd[0]) posix_spawn_file_actions_addchdir_np(&fa, cwd);
    int e = posix_spawn(&pid, exe, &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (e) { fail_run(id, e, "spawn"); goto done; }
  }
  struct run *r = xrealloc(NULL, sizeof *r);
  memset(r, 0, sizeof *r);
  r->gate = r->ef = -1;
  r->id = id;
  r->pid = pid;
  r->in = (flags & 5) ? in[1] : -1;
  in[1] = -1;
  r->held = (flags & 4) != 0;
  r->go = go[1];
  go[1] = -1;
  if (r->go >= 0) fcntl(r->go, F_SETFL, O_NONBLOCK);
  r->out = out[0];
  r->err = err[0];
  out[0] = err[0] = -1;
  r->gate = gate[1];
  gate[1] = -1;
  r->ef = ef[0];
  ef[0] = -1;
  if (r->in >= 0) {
    fcntl(r->in, F_SETFL, O_NONBLOCK);
    r->data = xrealloc(NULL, inlen);
    memcpy(r->data, rd.p, inlen);
    r->len = r->cap = inlen;
    if (!inlen && !r->held) close_fd(&r->in);
  }
  if (nruns == capruns) runs = xrealloc(runs, sizeof *runs * (capruns = capruns ? capruns * 2 : 16));
  runs[nruns++] = r;
  uint32_t upid = (uint32_t)pid;
  reply('P', id, &upid, 1, NULL, 0);
done:
  close_fd(&in[0]); close_fd(&in[1]); close_fd(&out[0]); close_fd(&out[1]); close_fd(&err[0]); close_fd(&err[1]);
  close_fd(&gate[0]); close_fd(&gate[1]); close_fd(&ef[0]); close_fd(&ef[1]); close_fd(&go[0]); close_fd(&go[1]);
  free(exe);
  free(cwd);
  free_list(argv);
  free_list(envp);
}

/* A gated run's error pipe (non-blocking): a failed chdir/exec becomes 'F'; EOF means the exec happened. Called when
 * the pipe is readable and when the child has exited; a child that has not got there yet (even a stopped one) leaves
 * the pipe open for a later call. */
static void check_exec(struct run *r) {
  if (r->ef < 0) return;
  int e = 0;
  ssize_t n;
  while ((n = read(r->ef, &e, sizeof e)) < 0 && errno == EINTR) {}
  if (n < 0 && errno == EAGAIN) return;
  close_fd(&r->ef);
  if (n == (ssize_t)sizeof e) {
    r->failed = 1; /* the agent hears 'F' instead of 'X' */
    r->reported = 1;
    close_fd(&r->in);
    fail_run(r->id, e, "exec");
  }
}

static void go_run(struct run *r) {
  if (r->gate < 0) return;
  char g = 'g';
  (void)!write(r->gate, &g, 1);
  close_fd(&r->gate);
  check_exec(r); /* usually not yet: the poll loop watches the pipe until the exec happened (or failed) */
}

/* 'W': more bytes for a held stdin (written by the poll loop as rsync reads them). */
static void append_stdin(struct run *r, const unsigned char *p, size_t n) {
  if (!r->held || r->in < 0 || !n) return;
  if (r->off == r->len) r->off = r->len = 0;
  if (r->len + n > r->cap) r->data = xrealloc(r->data, r->cap = (r->len + n) * 2);
  memcpy(r->data + r->len, p, n);
  r->len += n;
}

/* 'R': the held stdin closes once drained (at once when it is), then the go. */
static void release_run(struct run *r) {
  if (r->held) {
    r->held = 0;
    if (r->in >= 0 && r->off == r->len) {
      close_fd(&r->in);
      free(r->data);
      r->data = NULL;
      r->len = r->off = r->cap = 0;
    }
  }
  if (r->go >= 0) {
    char g = 'g';
    (void)!write(r->go, &g, 1); /* an empty pipe: never blocks; EPIPE when the child is gone, then nothing to release */
    close_fd(&r->go);
  }
}

/* 'D' (and 'C' for standbys not released): no 'g', no more stdin; the group is killed (the pid is still ours). */
static void discard_run(struct run *r) {
  if (!r->held && r->go < 0) return; /* released (or never a standby): a run like any other now */
  r->held = 0;
  close_fd(&r->go);
  close_fd(&r->in);
  free(r->data);
  r->data = NULL;
  r->len = r->off = r->cap = 0;
  kill(-r->pid, SIGKILL);
}

static void handle_request(const unsigned char *p, size_t n) {
  if (n < 1) return;
  char type = (char)p[0];
  p++, n--;
  if (type == 'C') {
    closing = 1;
    for (size_t i = 0; i < nruns; i++) discard_run(runs[i]);
    return;
  }
  if (type == 'S') {
    if (closing) {
      if (n >= 4) fail_run(get32(p), ESHUTDOWN, "the launcher is closing");
      return;
    }
    start_run(p, n);
    return;
  }
  if (n < 4) return;
  struct run *r = find_run(get32(p), type == 'A');
  if (!r) return;
  if (type == 'K' && n >= 8) {
    if (!r->exited) kill(r->pid, (int)get32(p + 4));
  } else if (type == 'G') {
    go_run(r);
  } else if (type == 'W') {
    append_stdin(r, p + 4, n - 4);
  } else if (type == 'R') {
    release_run(r);
  } else if (type == 'D') {
    discard_run(r);
  } else if (type == 'A') {
    r->acked = 1;
  }
}

static void pump_output(struct run *r, int *fd, char type) {
  static char buf[65536];
  ssize_t n = read(*fd, buf, sizeof buf);
  if (n > 0) {
    if (!r->failed) reply(type, r->id, NULL, 0, buf, (size_t)n);
  } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
    close_fd(fd);
  }
}

static void pump_input(struct run *r) {
  while (r->off < r->len) {
    ssize_t w = write(r->in, r->data + r->off, r->len - r->off);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;
      break; /* EPIPE: rsync stopped reading; its exit code tells the story */
    }
    r->off += (size_t)w;
  }
  if (r->held && r->off == r->len) return; /* drained; more may come ('W') until 'R' */
  close_fd(&r->in);
  free(r->data);
  r->data = NULL;
  r->len = r->off = r->cap = 0;
}

/* Notes runs whose process has exited, without reaping it (WNOWAIT): the pid stays taken until the agent's 'A'. */
static void notice_exits(void) {
  for (size_t i = 0; i < nruns; i++) {
    struct run *r = runs[i];
    if (r->exited) continue;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)r->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid != r->pid) continue;
    r->exited = 1;
    if (si.si_code == CLD_EXITED) { r->code = si.si_status; r->sig = 0; }
    else { r->code = -1; r->sig = si.si_status; }
    close_fd(&r->gate);
    close_fd(&r->go);
    r->held = 0;
    check_exec(r); /* died before or at its exec (its write, if any, is in the pipe) */
    close_fd(&r->ef);
    close_fd(&r->in);
  }
}

/* A run is done once exited and its stdout and stderr are at EOF: then 'X' (node's 'close' waits for the same). It is
 * reaped and forgotten once the agent acknowledged that 'X' (or the 'F' of a failed exec). */
static void finish_runs(void) {
  for (size_t i = 0; i < nruns;) {
    struct run *r = runs[i];
    if (r->exited && r->out < 0 && r->err < 0) {
      if (!r->reported) {
        uint32_t v[2] = { (uint32_t)r->code, (uint32_t)r->sig };
        reply('X', r->id, v, 2, NULL, 0);
        r->reported = 1;
      }
      if (r->acked) {
        int st;
        while (waitpid(r->pid, &st, WNOHANG) < 0 && errno == EINTR) {}
        free_run(i);
        continue;
      }
    }
    i++;
  }
}

int main(void) {
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* the agent died without closing fd 3 (it cannot, but be sure) */
  if (fcntl(CTL, F_GETFD) < 0) { fputs("rsynchub-spawn: fd 3 must be the agent's control socket\n", stderr); return 2; }
  fcntl(CTL, F_SETFD, FD_CLOEXEC);
  /* Descriptors the agent inherited without close-on-exec from whatever started it (a supervisor's lock file, a
   * shell's pipe) came along to us: none of them may reach rsync. */
  if (close_range(CTL + 1, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = CTL + 1; fd < 65536; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  fcntl(CTL, F_SETFL, fcntl(CTL, F_GETFL) & ~O_NONBLOCK);
  signal(SIGPIPE, SIG_IGN);
  sigfillset(&all_signals);
  sigdelset(&all_signals, SIGKILL);
  sigdelset(&all_signals, SIGSTOP);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) { perror("rsynchub-spawn: signalfd"); return 2; }

  unsigned char *buf = NULL;
  size_t blen = 0, bcap = 0;
  struct pollfd *pfd = NULL;
  struct run **owner = NULL;
  int *what = NULL;
  size_t pcap = 0;
  for (;;) {
    if (closing && nruns == 0) return 0;
    size_t need = 2 + nruns * 4;
    if (need > pcap) {
      pcap = need * 2;
      pfd = xrealloc(pfd, sizeof *pfd * pcap);
      owner = xrealloc(owner, sizeof *owner * pcap);
      what = xrealloc(what, sizeof *what * pcap);
    }
    size_t np = 0;
    pfd[np++] = (struct pollfd){ CTL, POLLIN, 0 };
    pfd[np++] = (struct pollfd){ sfd, POLLIN, 0 };
    for (size_t i = 0; i < nruns; i++) {
      struct run *r = runs[i];
      if (r->out >= 0) { owner[np] = r; what[np] = 1; pfd[np++] = (struct pollfd){ r->out, POLLIN, 0 }; }
      if (r->err >= 0) { owner[np] = r; what[np] = 2; pfd[np++] = (struct pollfd){ r->err, POLLIN, 0 }; }
      /* a held stdin with nothing to write is not polled (it would be writable at once, again and again) */
      if (r->in >= 0 && (r->off < r->len || !r->held)) { owner[np] = r; what[np] = 0; pfd[np++] = (struct pollfd){ r->in, POLLOUT, 0 }; }
      if (r->ef >= 0 && r->gate < 0) { owner[np] = r; what[np] = 3; pfd[np++] = (struct pollfd){ r->ef, POLLIN, 0 }; }
    }
    if (poll(pfd, np, -1) < 0) {
      if (errno == EINTR) continue;
      perror("rsynchub-spawn: poll");
      return 2;
    }
    for (size_t i = 2; i < np; i++) {
      if (!pfd[i].revents) continue;
      struct run *r = owner[i];
      if (what[i] == 1) pump_output(r, &r->out, 'O');
      else if (what[i] == 2) pump_output(r, &r->err, 'E');
      else if (what[i] == 3) check_exec(r);
      else pump_input(r);
    }
    if (pfd[1].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) > 0) {}
      notice_exits();
    }
    if (pfd[0].revents) {
      if (bcap - blen < 65536) buf = xrealloc(buf, bcap = (bcap + 65536) * 2);
      ssize_t n = read(CTL, buf + blen, bcap - blen);
      if (n == 0) return 0; /* the agent closed the channel */
      if (n < 0 && errno != EINTR && errno != EAGAIN) return 0;
      if (n > 0) blen += (size_t)n;
      size_t off = 0;
      while (blen - off >= 4) {
        uint32_t len = get32(buf + off);
        if (len > MAX_REQUEST) {
          fprintf(stderr, "rsynchub-spawn: a request of %u bytes is over the limit of %u; the control stream is corrupt, exiting\n", len, MAX_REQUEST);
          return 2;
        }
        if (blen - off - 4 < len) {
          if (bcap < (size_t)len + 4) buf = xrealloc(buf, bcap = (size_t)len + 4 + 65536);
          break;
        }
        handle_request(buf + off + 4, len);
        off += 4 + (size_t)len;
      }
      memmove(buf, buf + off, blen - off);
      blen -= off;
    }
    notice_exits(); /* a run started above may already have exited */
    finish_runs();
  }
}
