/*
 * rsynchub-tls-front: the server's native rsync-over-TLS front (issue 11), supervised by the API (tls-front-native.ts).
 *
 * Why native: the Node front (tls-front.ts) forked the big Node process once per connection (~60 ms of blocked event
 * loop each) and relayed every byte through Node streams; a 200 MB push ran at 0.40x plaintext, 0.75x stunnel. This
 * does what stunnel does: one small process owns the TLS port, forks once per connection (cheap: it is small), does
 * the handshake in the child, and relays with OpenSSL directly, big buffers, one poll loop.
 *
 * Per connection (a child process in its own process group):
 *   1. TLS handshake, at most --handshake-timeout-ms (alarm: a client that never finishes holds only its own child);
 *   2. a private loopback TCP pair: a one-shot listener on 127.0.0.1:0 accepts only the socket whose remote port is
 *      our own connecting socket's local port (no other socket on the machine can have that 4-tuple), then closes, so
 *      no other local process can reach the daemon's end (review F1: nothing that trusts a PROXY line listens);
 *   3. `rsync --daemon --config=<rsyncd-tls.conf>` in inetd mode on the other end (stdin/stdout the socket; rsync
 *      takes the pair's peer address, 127.0.0.1, for `proxy protocol hosts`), with a minimal environment;
 *   4. the PROXY v1 line with the REAL client address and port, then the relay both ways.
 *
 * Policy kept from the Node front: TLS 1.2 at least, Node's default cipher list, at most --max-connections open and
 * --max-per-address per client address (counted at accept, before any TLS work).
 *
 * Talking to the API: stdin carries commands, stdout carries events, one line each (< PIPE_BUF, so lines written by
 * the per-connection children never interleave).
 *   in:  `cert <n>\n` + n bytes: PEM certificate chain (leaf first) and private key. The first one is needed before
 *        the port is opened; later ones replace it for new handshakes (running connections keep theirs: forked).
 *        `client-ca <n>\n` + n bytes: the private CA (PEM) client certificates must chain to; from then on every
 *        client is asked for a certificate (optional: one without still connects; see client_cert_passes).
 *        EOF on stdin (the API stopped it or died): stop.
 *   out: `listening` | `listen-error <ERRNO> <text>` | `cert-ok` | `cert-error <text>` | `open <pid>` (handshake done,
 *        daemon started) | `closed <pid>` | `handshake-failure` | `refused-per-address <address>` | `refused-max` |
 *        `daemon-error <text>` | `client-ca-ok` | `client-ca-error <text>`
 *
 * Client certificates (with --cert-config and --client-allowed, after a `client-ca`): a connection whose certificate
 * verified against the CA (chain, validity, clientAuth purpose) and whose SHA-256 fingerprint is a line of the
 * allowed file (read per connection: a revocation holds for the next one) gets a daemon on --cert-config instead of
 * --config. Any other connection (no certificate, another CA, expired, revoked) is served like one without a
 * certificate: --config, where the modules that need one refuse it.
 * Lifetime: the front dies with the API (PR_SET_PDEATHSIG), each connection child dies with the front, each rsync
 * dies with its connection child. SIGTERM or stdin EOF: close the port, SIGTERM every connection's process group,
 * SIGKILL after 5 s.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <sys/stat.h>

#define BUF (256 * 1024)
#define STOP_GRACE_MS 5000
/* After the daemon hung up and close_notify went out: how long a client that does not close its side is kept. */
#define CLIENT_LINGER_MS 30000
/* How long a connection child waits for its rsync (and rsync's own children) to finish after the relay ended. */
#define DAEMON_EXIT_GRACE_MS 5000

static const char *CIPHERS =
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA256:DHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA384:"
    "DHE-RSA-AES256-SHA384:ECDHE-RSA-AES256-SHA256:DHE-RSA-AES256-SHA256:HIGH:!aNULL:!eNULL:!EXPORT:!DES:!RC4:!MD5:!PSK:"
    "!SRP:!CAMELLIA";
/* TLS 1.3 suites in Mozilla's "intermediate" order, applied as the server's preference: AES-128-GCM first. It is ~1.5x
 * faster than AES-256-GCM with AES-NI (openssl speed here: 4.05 vs 2.72 GB/s), and on a small target the client and
 * this front share the CPUs with rsync on both ends. */
static const char *CIPHERSUITES = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

static const char *opt_host = "0.0.0.0", *opt_port = NULL, *opt_rsync = "rsync", *opt_config = NULL;
static const char *opt_cert_config = NULL, *opt_client_allowed = NULL;
static long opt_max = 1000, opt_per_address = 32, opt_handshake_ms = 10000;
static pid_t opt_parent = 0;

static SSL_CTX *ctx = NULL;
/* The CA client certificates must chain to (from a `client-ca` command); NULL: no client certificate is asked for. */
static STACK_OF(X509) *client_ca = NULL;

/* ---------- events to the API ---------- */

static void event(const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
  for (int i = 0; i < n; i++)
    if (line[i] == '\n' || line[i] == '\r') line[i] = ' ';
  line[n++] = '\n';
  ssize_t w = write(1, line, (size_t)n); /* one write: atomic on a pipe (n < PIPE_BUF) */
  (void)w;
}

static void ssl_error_text(char *out, size_t size) {
  unsigned long e = ERR_get_error();
  if (e) ERR_error_string_n(e, out, size);
  else snprintf(out, size, "%s", errno ? strerror(errno) : "unknown error");
  ERR_clear_error();
}

static long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

/* ---------- certificate ---------- */

/* Every client certificate is let through the handshake; the result is read after it (client_cert_passes). */
static int verify_any(int ok, X509_STORE_CTX *store) {
  (void)ok;
  (void)store;
  return 1;
}

/* Ask for client certificates chained to client_ca (when set): a new store with just that CA, and its names. */
static int apply_client_ca(SSL_CTX *c) {
  if (!client_ca) return 1;
  X509_STORE *store = X509_STORE_new();
  STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
  if (!store || !names) goto fail;
  for (int i = 0; i < sk_X509_num(client_ca); i++) {
    X509 *ca = sk_X509_value(client_ca, i);
    if (X509_STORE_add_cert(store, ca) != 1) goto fail;
    X509_NAME *n = X509_NAME_dup(X509_get_subject_name(ca));
    if (!n || !sk_X509_NAME_push(names, n)) {
      X509_NAME_free(n);
      goto fail;
    }
  }
  SSL_CTX_set_cert_store(c, store); /* takes it */
  SSL_CTX_set_client_CA_list(c, names); /* takes it */
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER, verify_any);
  SSL_CTX_set_verify_depth(c, 2);
  return 1;
fail:
  if (store) X509_STORE_free(store);
  if (names) sk_X509_NAME_pop_free(names, X509_NAME_free);
  return 0;
}

/* A context for new handshakes from a PEM chain (leaf first) and key; NULL (and the reason in `why`) if unusable. */
static SSL_CTX *context_from_pem(const char *pem, size_t len, char *why, size_t why_size) {
  SSL_CTX *c = SSL_CTX_new(TLS_server_method());
  BIO *bio = NULL;
  X509 *leaf = NULL;
  EVP_PKEY *key = NULL;
  if (!c) goto fail;
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  if (!SSL_CTX_set_cipher_list(c, CIPHERS) || !SSL_CTX_set_ciphersuites(c, CIPHERSUITES)) goto fail;
  /* Bulk relay: write what fits without resubmitting the same buffer; read whole records ahead per system call. */
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_read_ahead(c, 1);
  SSL_CTX_set_default_read_buffer_len(c, 64 * 1024);
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  /* No TLS 1.3 session tickets: every connection is a fresh process with a fresh daemon, rsync-ssl (s_client) and the
   * agent's connector never resume, and two tickets per connection are two more records and two more writes. */
  SSL_CTX_set_num_tickets(c, 0);
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  bio = BIO_new_mem_buf(pem, (int)len);
  if (!bio) goto fail;
  leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
  if (!leaf || SSL_CTX_use_certificate(c, leaf) != 1) goto fail;
  for (;;) {
    X509 *extra = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (!extra) break;
    if (SSL_CTX_add0_chain_cert(c, extra) != 1) {
      X509_free(extra);
      goto fail;
    }
  }
  ERR_clear_error(); /* the end of the certificates is "no start line", not a failure */
  BIO_free(bio);
  bio = BIO_new_mem_buf(pem, (int)len);
  key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
  if (!key || SSL_CTX_use_PrivateKey(c, key) != 1 || SSL_CTX_check_private_key(c) != 1) goto fail;
  if (!apply_client_ca(c)) goto fail;
  X509_free(leaf);
  EVP_PKEY_free(key);
  BIO_free(bio);
  return c;
fail:
  ssl_error_text(why, why_size);
  if (bio) BIO_free(bio);
  if (leaf) X509_free(leaf);
  if (key) EVP_PKEY_free(key);
  if (c) SSL_CTX_free(c);
  return NULL;
}

/* ---------- commands from the API (stdin) ---------- */

static char *cmd = NULL;
static size_t cmd_len = 0, cmd_cap = 0;

/* Consumes whole commands from the buffer. Returns 1 when a certificate was installed. */
static int run_commands(void) {
  int installed = 0;
  for (;;) {
    char *nl = memchr(cmd, '\n', cmd_len);
    if (!nl) return installed;
    size_t head = (size_t)(nl - cmd) + 1;
    unsigned long n = 0;
    if (sscanf(cmd, "cert %lu", &n) == 1) {
      if (cmd_len < head + n) return installed; /* the PEM is still coming */
      char why[300];
      SSL_CTX *c = context_from_pem(cmd + head, n, why, sizeof why);
      if (c) {
        if (ctx) SSL_CTX_free(ctx);
        ctx = c;
        installed = 1;
        event("cert-ok");
      } else {
        event("cert-error %s", why);
      }
      OPENSSL_cleanse(cmd + head, n);
      head += n;
    } else if (sscanf(cmd, "client-ca %lu", &n) == 1) {
      if (cmd_len < head + n) return installed;
      BIO *bio = BIO_new_mem_buf(cmd + head, (int)n);
      STACK_OF(X509) *list = sk_X509_new_null();
      X509 *x;
      while (bio && list && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) sk_X509_push(list, x);
      ERR_clear_error();
      if (bio) BIO_free(bio);
      if (!list || sk_X509_num(list) == 0) {
        if (list) sk_X509_free(list);
        event("client-ca-error no certificate in the client CA");
      } else {
        STACK_OF(X509) *old = client_ca;
        client_ca = list;
        if (ctx && !apply_client_ca(ctx)) {
          client_ca = old;
          sk_X509_pop_free(list, X509_free);
          event("client-ca-error cannot install the client CA");
        } else {
          if (old) sk_X509_pop_free(old, X509_free);
          event("client-ca-ok");
        }
      }
      head += n;
    }
    memmove(cmd, cmd + head, cmd_len - head);
    cmd_len -= head;
  }
}

/* Reads what stdin has. Returns 0 on EOF or error (the API is gone or asks us to stop). */
static int read_commands(void) {
  if (cmd_cap - cmd_len < 65536) {
    cmd_cap = cmd_cap * 2 + 65536;
    if (cmd_cap > 16 * 1024 * 1024) return 0; /* a certificate is never that big: a broken API */
    cmd = realloc(cmd, cmd_cap);
    if (!cmd) return 0;
  }
  ssize_t n = read(0, cmd + cmd_len, cmd_cap - cmd_len);
  if (n > 0) {
    cmd_len += (size_t)n;
    return 1;
  }
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
  return 0;
}

/* ---------- one connection (in its own child process) ---------- */

/* A connected loopback TCP pair nobody else can reach; 0 on success. */
static int loopback_pair(int *ours, int *theirs) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = 0};
  socklen_t alen = sizeof a;
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int o = -1, t = -1;
  if (l < 0) return -1;
  if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 8) < 0 || getsockname(l, (struct sockaddr *)&a, &alen) < 0) goto fail;
  o = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (o < 0 || connect(o, (struct sockaddr *)&a, sizeof a) < 0) goto fail;
  struct sockaddr_in mine;
  socklen_t mlen = sizeof mine;
  if (getsockname(o, (struct sockaddr *)&mine, &mlen) < 0) goto fail;
  long deadline = now_ms() + 5000;
  for (;;) {
    struct pollfd p = {l, POLLIN, 0};
    long left = deadline - now_ms();
    if (left <= 0) {
      errno = ETIMEDOUT;
      goto fail;
    }
    if (poll(&p, 1, (int)left) <= 0) continue;
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    int s = accept4(l, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
    if (s < 0) continue;
    /* Anyone else who raced to the port gets nothing. */
    if (peer.sin_addr.s_addr != htonl(INADDR_LOOPBACK) || peer.sin_port != mine.sin_port) {
      close(s);
      continue;
    }
    t = s;
    break;
  }
  close(l);
  int one = 1;
  setsockopt(o, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(t, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  *ours = o;
  *theirs = t;
  return 0;
fail:
  if (l >= 0) close(l);
  if (o >= 0) close(o);
  if (t >= 0) close(t);
  return -1;
}

/* The client's address as the daemon must see it: an IPv4 client on a dual-stack socket as plain IPv4. */
static int address_text(const struct sockaddr_storage *ss, char *out, size_t size, int *port, int *family) {
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &a->sin_addr, out, (socklen_t)size);
    *port = ntohs(a->sin_port);
    *family = 4;
    return 0;
  }
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    *port = ntohs(a->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
      inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], out, (socklen_t)size);
      *family = 4;
    } else {
      inet_ntop(AF_INET6, &a->sin6_addr, out, (socklen_t)size);
      *family = 6;
    }
    return 0;
  }
  return -1;
}

static pid_t start_daemon(int theirs, int err_w, const char *config_file) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  /* The daemon dies with its connection child (and so with the front and the API). */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_DFL);
  signal(SIGALRM, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  dup2(theirs, 0);
  dup2(theirs, 1);
  dup2(err_w, 2);
  for (int fd = 3; fd < 1024; fd++) close(fd);
  char config[4200];
  snprintf(config, sizeof config, "--config=%s", config_file);
  char *argv[] = {(char *)opt_rsync, "--daemon", config, NULL};
  /* The daemon expands %VAR% in its config: nothing of ours may leak into it (the same as DAEMON_ENV in inetd.ts). */
  char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TZ=UTC", "LANG=C.UTF-8", NULL};
  execve(opt_rsync, argv, envp);
  if (!strchr(opt_rsync, '/')) execvpe(opt_rsync, argv, envp);
  dprintf(2, "cannot start rsync (%s): %s\n", opt_rsync, strerror(errno));
  _exit(127);
}

static char daemon_stderr[1000];
static size_t daemon_stderr_len = 0;

/* Reads what the daemon wrote to stderr; 1 once it is closed (the daemon and all its processes are gone). */
static int read_daemon_stderr(int fd) {
  char b[4096];
  ssize_t n;
  while ((n = read(fd, b, sizeof b)) > 0) {
    /* keep the last bytes only */
    for (ssize_t i = 0; i < n; i++) {
      if (daemon_stderr_len == sizeof daemon_stderr - 1) {
        memmove(daemon_stderr, daemon_stderr + 1, daemon_stderr_len - 1);
        daemon_stderr_len--;
      }
      daemon_stderr[daemon_stderr_len++] = b[i];
    }
  }
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
}

/*
 * Both directions in one poll loop: TLS client (c) <-> daemon (d).
 * - client -> daemon: records read ahead until OpenSSL wants more, written as one write (partial writes resumed);
 *   the client's close_notify (or TCP end) becomes a half-close toward the daemon once everything is written: rsync
 *   can still answer.
 * - daemon -> client: its EOF becomes close_notify + our FIN after everything is sent; then the client's remaining
 *   bytes are read and dropped (closing with unread data would send a RST that can destroy the tail we just sent)
 *   until it closes, at most CLIENT_LINGER_MS.
 * - any error on either side ends the relay: closing the daemon's socket ends the daemon.
 */
static void relay(SSL *ssl, int c, int d, int err_r) {
  static unsigned char up[BUF], down[BUF];
  size_t up_len = 0, up_off = 0, down_len = 0, down_off = 0;
  int client_eof = 0, daemon_eof = 0, daemon_shut = 0, client_shut = 0, up_dead = 0;
  long linger_until = 0;
  int one = 1;
  set_nonblock(c);
  set_nonblock(d);
  set_nonblock(err_r);
  for (;;) {
    int progress = 0;
    short want_c = 0, want_d = 0;
    /* client -> daemon */
    while (!client_eof && up_len < BUF) {
      ERR_clear_error();
      int r = SSL_read(ssl, up + up_len, (int)(BUF - up_len));
      if (r > 0) {
        up_len += (size_t)r;
        progress = 1;
        continue;
      }
      int e = SSL_get_error(ssl, r);
      if (e == SSL_ERROR_WANT_READ) want_c |= POLLIN;
      else if (e == SSL_ERROR_WANT_WRITE) want_c |= POLLOUT;
      else if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && r == 0)) client_eof = 1;
      else if (client_shut) client_eof = 1; /* lingering: whatever the client does now ends it */
      else return;
      break;
    }
    if (client_shut || up_dead) up_len = up_off = 0; /* after our close_notify, or with no daemon reading: drop */
    while (up_off < up_len) {
      ssize_t n = write(d, up + up_off, up_len - up_off);
      if (n > 0) {
        up_off += (size_t)n;
        progress = 1;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) want_d |= POLLOUT;
      else {
        /* The daemon stopped reading (it exited after a last message, e.g. an @ERROR): the client's tail goes nowhere,
         * but what the daemon sent before is still relayed below, up to its end of stream. */
        up_dead = 1;
        up_len = up_off = 0;
      }
      break;
    }
    if (up_off == up_len) up_len = up_off = 0;
    if (client_eof && up_len == 0 && !daemon_shut) {
      shutdown(d, SHUT_WR);
      daemon_shut = 1;
    }
    /* daemon -> client */
    if (!daemon_eof && down_len == 0) {
      ssize_t n = read(d, down, BUF);
      if (n > 0) {
        down_len = (size_t)n;
        down_off = 0;
        progress = 1;
        setsockopt(d, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        daemon_eof = 1;
      } else {
        want_d |= POLLIN;
      }
    }
    while (down_off < down_len) {
      ERR_clear_error();
      int r = SSL_write(ssl, down + down_off, (int)(down_len - down_off));
      if (r > 0) {
        down_off += (size_t)r;
        progress = 1;
        continue;
      }
      int e = SSL_get_error(ssl, r);
      if (e == SSL_ERROR_WANT_WRITE) want_c |= POLLOUT;
      else if (e == SSL_ERROR_WANT_READ) want_c |= POLLIN;
      else return; /* the client went away */
      break;
    }
    if (down_off == down_len) down_len = down_off = 0;
    if (daemon_eof && down_len == 0 && !client_shut) {
      SSL_shutdown(ssl); /* close_notify: a clean end the client can tell from a cut connection */
      shutdown(c, SHUT_WR);
      client_shut = 1;
      linger_until = now_ms() + CLIENT_LINGER_MS;
    }
    if (client_shut && client_eof) return;
    if (progress) continue;
    struct pollfd p[3];
    int np = 0;
    /* Only what a call above asked for: polling the client for input while our buffer toward the daemon is full (or a
     * hung-up socket with nothing wanted) would wake poll again and again, a busy loop while the other side drains. */
    short ev_c = want_c;
    p[np++] = (struct pollfd){ev_c ? c : -1, ev_c, 0};
    p[np++] = (struct pollfd){want_d ? d : -1, want_d, 0};
    p[np++] = (struct pollfd){err_r, POLLIN, 0}; /* poll skips a negative fd */
    int timeout = -1;
    if (client_shut) {
      long left = linger_until - now_ms();
      if (left <= 0) return;
      timeout = (int)left;
    }
    int r = poll(p, np, timeout);
    if (r < 0 && errno != EINTR) return;
    if (p[2].revents) {
      /* stderr closed: every process of the daemon is gone; what is buffered is still relayed */
      if (read_daemon_stderr(err_r)) err_r = -1;
    }
  }
}

static pid_t handshake_daemon = 0;

/* The allowed file is tiny (65 bytes a certificate); anything much bigger is not ours: no certificate passes. */
#define MAX_ALLOWED_BYTES (4 * 1024 * 1024)

/*
 * 1 when the client presented a certificate that verified against the client CA in the handshake and whose SHA-256
 * fingerprint is a line of --client-allowed, read now. The file is opened without following a symbolic link and
 * must be a regular file; anything unexpected (missing, unreadable, too big) lets no certificate pass.
 */
static int client_cert_passes(SSL *ssl) {
  if (!client_ca || !opt_cert_config || !opt_client_allowed) return 0;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
  X509 *peer = SSL_get1_peer_certificate(ssl);
#else
  X509 *peer = SSL_get_peer_certificate(ssl);
#endif
  if (!peer) return 0;
  long verified = SSL_get_verify_result(ssl);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  int digested = X509_digest(peer, EVP_sha256(), md, &mdlen);
  X509_free(peer);
  if (verified != X509_V_OK || !digested || mdlen != 32) return 0;
  char hex[65];
  for (unsigned int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  int fd = open(opt_client_allowed, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_ALLOWED_BYTES) {
    close(fd);
    return 0;
  }
  char *text = malloc((size_t)st.st_size + 1);
  size_t len = 0;
  if (text) {
    ssize_t r;
    while (len < (size_t)st.st_size && (r = read(fd, text + len, (size_t)st.st_size - len)) > 0) len += (size_t)r;
    text[len] = 0;
  }
  close(fd);
  if (!text) return 0;
  int found = 0;
  for (char *line = text; line && *line && !found;) {
    char *nl = strchr(line, '\n');
    size_t n = nl ? (size_t)(nl - line) : strlen(line);
    if (n == 64 && memcmp(line, hex, 64) == 0) found = 1;
    line = nl ? nl + 1 : NULL;
  }
  free(text);
  return found;
}

/* The handshake took too long: the daemon started for it goes first (killed, it logs nothing), then this process dies
 * of SIGALRM, which the front counts as a handshake failure. */
static void on_handshake_timeout(int sig) {
  (void)sig;
  if (handshake_daemon > 0) kill(handshake_daemon, SIGKILL);
  signal(SIGALRM, SIG_DFL);
  raise(SIGALRM);
}

static void handle_connection(int c, const struct sockaddr_storage *peer) {
  /* The daemon starts first, on its private pair, and loads while the client does its part of the handshake: its
   * exec and config load overlap the handshake instead of following it. It reads nothing but the PROXY line, which
   * is written only after the handshake; a failed handshake SIGKILLs it before it could log anything. */
  int ours, theirs, errp[2];
  if (loopback_pair(&ours, &theirs) != 0) {
    event("daemon-error cannot connect a daemon for a TLS connection: %s", strerror(errno));
    _exit(1);
  }
  if (pipe2(errp, O_CLOEXEC) != 0) {
    event("daemon-error cannot start rsync for a TLS connection: %s", strerror(errno));
    _exit(1);
  }
  pid_t daemon = start_daemon(theirs, errp[1], opt_config);
  close(theirs);
  close(errp[1]);
  if (daemon < 0) {
    event("daemon-error cannot start rsync for a TLS connection: %s", strerror(errno));
    _exit(1);
  }
  handshake_daemon = daemon;
  /* A client that never finishes the handshake is killed by SIGALRM: it held only this process and its daemon. */
  signal(SIGALRM, on_handshake_timeout);
  alarm((unsigned)((opt_handshake_ms + 999) / 1000));
  SSL *ssl = SSL_new(ctx);
  if (!ssl || !SSL_set_fd(ssl, c) || SSL_accept(ssl) != 1) {
    kill(daemon, SIGKILL);
    event("handshake-failure");
    _exit(1);
  }
  alarm(0);
  signal(SIGALRM, SIG_DFL);
  handshake_daemon = 0;
  if (client_cert_passes(ssl)) {
    /* The daemon started during the handshake has the config for connections without a certificate and has read
     * nothing yet (no PROXY line): it goes (killed, it logs nothing) and one on the other config takes its place. */
    kill(daemon, SIGKILL);
    waitpid(daemon, NULL, 0);
    close(ours);
    close(errp[0]);
    if (loopback_pair(&ours, &theirs) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
      event("daemon-error cannot connect a daemon for a TLS connection: %s", strerror(errno));
      _exit(1);
    }
    daemon = start_daemon(theirs, errp[1], opt_cert_config);
    close(theirs);
    close(errp[1]);
    if (daemon < 0) {
      event("daemon-error cannot start rsync for a TLS connection: %s", strerror(errno));
      _exit(1);
    }
  }
  struct sockaddr_storage local;
  socklen_t llen = sizeof local;
  char src[INET6_ADDRSTRLEN] = "", dst[INET6_ADDRSTRLEN] = "";
  int sport = 0, dport = 0, sfam = 0, dfam = 0;
  char proxy[200];
  if (getsockname(c, (struct sockaddr *)&local, &llen) == 0 && address_text(peer, src, sizeof src, &sport, &sfam) == 0 &&
      address_text(&local, dst, sizeof dst, &dport, &dfam) == 0 && sfam == dfam && sport > 0 && dport > 0)
    snprintf(proxy, sizeof proxy, "PROXY TCP%d %s %s %d %d\r\n", sfam, src, dst, sport, dport);
  else
    snprintf(proxy, sizeof proxy, "PROXY UNKNOWN\r\n"); /* rsync then uses the socket's own address, never a made-up one */
  event("open %d", (int)getpid());
  /* The PROXY line is the first thing the daemon reads; a loopback socket takes 100 bytes at once. */
  size_t plen = strlen(proxy);
  if (write(ours, proxy, plen) != (ssize_t)plen) _exit(1);
  relay(ssl, c, ours, errp[0]);
  close(ours);
  close(c);
  /* Wait for the daemon to finish (it writes the session's last log line on the way out): its stderr closes when it
   * and every process it forked are gone. Then report what it said, if anything. */
  long deadline = now_ms() + DAEMON_EXIT_GRACE_MS;
  int gone = 0;
  while (!gone) {
    long left = deadline - now_ms();
    if (left <= 0) break;
    struct pollfd p = {errp[0], POLLIN, 0};
    if (poll(&p, 1, (int)left) <= 0) continue;
    gone = read_daemon_stderr(errp[0]);
  }
  if (daemon_stderr_len > 0) {
    /* rsync writes to stderr only when it cannot get going at all (its log file takes the rest) */
    daemon_stderr[daemon_stderr_len] = 0;
    event("daemon-error rsync for a TLS connection: %s", daemon_stderr);
  }
  if (!gone) kill(-getpgrp(), SIGKILL); /* whatever of the daemon outlived the grace (and this process with it) */
  _exit(0);
}

/* ---------- the front (accepting process) ---------- */

struct conn {
  pid_t pid;
  char address[INET6_ADDRSTRLEN];
};
static struct conn *conns = NULL;
static long nconns = 0;

static int sig_pipe[2];
static void on_signal(int sig) {
  char c = (char)sig;
  ssize_t w = write(sig_pipe[1], &c, 1);
  (void)w;
}

static long count_address(const char *address) {
  long n = 0;
  for (long i = 0; i < nconns; i++)
    if (strcmp(conns[i].address, address) == 0) n++;
  return n;
}

static void report_exit(pid_t pid, int status) {
  for (long i = 0; i < nconns; i++) {
    if (conns[i].pid != pid) continue;
    conns[i] = conns[--nconns];
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) event("handshake-failure");
    event("closed %d", (int)pid);
    return;
  }
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) report_exit(pid, status);
}

static void accept_all(int l) {
  for (;;) {
    struct sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    int c = accept4(l, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
    if (c < 0) return;
    char address[INET6_ADDRSTRLEN] = "";
    int port, family;
    if (address_text(&peer, address, sizeof address, &port, &family) != 0) {
      close(c);
      continue;
    }
    /* Counted at accept, before the handshake: a refused connection costs no TLS work and no process. Each admitted
     * one holds a daemon waiting for the client's greeting, so one address must not take every slot. */
    if (nconns >= opt_max) {
      event("refused-max");
      close(c);
      continue;
    }
    if (count_address(address) >= opt_per_address) {
      event("refused-per-address %s", address);
      close(c);
      continue;
    }
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pid_t pid = fork();
    if (pid < 0) {
      close(c);
      continue;
    }
    if (pid == 0) {
      pid_t front = getppid();
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != front) _exit(1);
      setpgid(0, 0); /* its own group: a stop takes down this process, its daemon and the daemon's children */
      close(l);
      close(sig_pipe[0]);
      close(sig_pipe[1]);
      int devnull = open("/dev/null", O_RDONLY);
      dup2(devnull, 0);
      close(devnull);
      signal(SIGCHLD, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      signal(SIGINT, SIG_DFL);
      signal(SIGHUP, SIG_DFL);
      handle_connection(c, &peer);
      _exit(0);
    }
    setpgid(pid, pid); /* also from here: no window where a stop misses it */
    close(c);
    conns = realloc(conns, sizeof *conns * (size_t)(nconns + 1));
    conns[nconns].pid = pid;
    snprintf(conns[nconns].address, sizeof conns[nconns].address, "%s", address);
    nconns++;
  }
}

static int open_listener(void) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *res = NULL;
  int rc = getaddrinfo(opt_host, opt_port, &hints, &res);
  if (rc != 0) {
    event("listen-error EINVAL cannot use address %s: %s", opt_host, gai_strerror(rc));
    exit(3);
  }
  int l = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1, zero = 0;
  if (l >= 0) {
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (res->ai_family == AF_INET6) setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero); /* like Node: dual stack */
  }
  if (l < 0 || bind(l, res->ai_addr, res->ai_addrlen) < 0 || listen(l, 511) < 0) {
    int e = errno;
    event("listen-error %s %s", e == EADDRINUSE ? "EADDRINUSE" : e == EACCES ? "EACCES" : e == EADDRNOTAVAIL ? "EADDRNOTAVAIL" : "EOTHER", strerror(e));
    exit(3);
  }
  freeaddrinfo(res);
  return l;
}

static void stop_all(int l) {
  if (l >= 0) close(l);
  for (long i = 0; i < nconns; i++) kill(-conns[i].pid, SIGTERM);
  long deadline = now_ms() + STOP_GRACE_MS;
  while (nconns > 0 && now_ms() < deadline) {
    struct pollfd p = {sig_pipe[0], POLLIN, 0};
    poll(&p, 1, 50);
    char b[64];
    while (read(sig_pipe[0], b, sizeof b) > 0) {}
    reap();
  }
  for (long i = 0; i < nconns; i++) kill(-conns[i].pid, SIGKILL);
  while (nconns > 0) {
    int status;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) break;
    report_exit(pid, status);
  }
  exit(0);
}

static void usage(void) {
  fprintf(stderr,
          "usage: rsynchub-tls-front --port N --config FILE [--host ADDR] [--rsync PATH] [--max-connections N]\n"
          "       [--max-per-address N] [--handshake-timeout-ms N] [--parent-pid PID] [--cert-config FILE --client-allowed FILE];\n"
          "       certificate on stdin (cert <n>), client CA (client-ca <n>)\n");
  exit(2);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--version") == 0) {
    printf("rsynchub-tls-front %s\n", OpenSSL_version(OPENSSL_VERSION));
    return 0;
  }
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) usage();
    if (!strcmp(a, "--host")) opt_host = v;
    else if (!strcmp(a, "--port")) opt_port = v;
    else if (!strcmp(a, "--rsync")) opt_rsync = v;
    else if (!strcmp(a, "--config")) opt_config = v;
    else if (!strcmp(a, "--cert-config")) opt_cert_config = v;
    else if (!strcmp(a, "--client-allowed")) opt_client_allowed = v;
    else if (!strcmp(a, "--max-connections")) opt_max = strtol(v, NULL, 10);
    else if (!strcmp(a, "--max-per-address")) opt_per_address = strtol(v, NULL, 10);
    else if (!strcmp(a, "--handshake-timeout-ms")) opt_handshake_ms = strtol(v, NULL, 10);
    else if (!strcmp(a, "--parent-pid")) opt_parent = (pid_t)strtol(v, NULL, 10);
    else usage();
    i++;
  }
  if (!opt_port || !opt_config || opt_max < 1 || opt_per_address < 1 || opt_handshake_ms < 1) usage();
  /* Dies with the API: a SIGKILLed server leaves no front (and so no connection, no daemon) behind. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (opt_parent > 0 && getppid() != opt_parent) return 1;
  signal(SIGPIPE, SIG_IGN);
  if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return 1;
  struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART | SA_NOCLDSTOP};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGCHLD, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  /* The first certificate, then the port. */
  while (!ctx) {
    if (!read_commands()) return 0;
    run_commands();
  }
  int l = open_listener();
  event("listening");
  for (;;) {
    struct pollfd p[3] = {{l, POLLIN, 0}, {0, POLLIN, 0}, {sig_pipe[0], POLLIN, 0}};
    if (poll(p, 3, -1) < 0 && errno != EINTR) stop_all(l);
    if (p[2].revents) {
      char b[64];
      ssize_t n;
      int stop = 0;
      while ((n = read(sig_pipe[0], b, sizeof b)) > 0)
        for (ssize_t i = 0; i < n; i++)
          if (b[i] == SIGTERM || b[i] == SIGINT) stop = 1;
      reap();
      if (stop) stop_all(l);
    }
    if (p[1].revents) {
      if (!read_commands()) stop_all(l);
      run_commands();
    }
    if (p[0].revents) accept_all(l);
  }
}
