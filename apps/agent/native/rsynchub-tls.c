/*
 * rsynchub-tls: the agent's native TLS connector for a `tls: true` remote, run by rsync as RSYNC_CONNECT_PROG.
 *
 * Why native: the agent's in-process Node relay spent ~0.5 s of CPU per 100 MiB on stream overhead (161 MB/s against
 * 773 MB/s plaintext, measured under load). This program relays with OpenSSL directly, 256 KiB buffers, no copies
 * beyond OpenSSL's own, and needs no loopback listener at all: rsync hands it a private socketpair (stdin/stdout).
 *
 * Guarantees (the same as the Node relay, tls-relay.ts):
 * - the server certificate is checked BEFORE one byte from rsync is read: a pinned SHA-256 of the leaf (alone: the
 *   whole trust, any name, self-signed allowed), and/or the chain against caFile (or the system CAs when neither is
 *   given) with the host name (DNS name, or an IP address among the certificate's IP names); TLS 1.2 at least;
 * - a failure is one line on stderr (rsync passes it through to the agent), starting with
 *   "rsynchub-agent tls-native:" and holding tab-separated key=value fields (code, message, got, alt, validto); the
 *   agent turns it into its usual words (tls-options.ts explainTlsError / pinMismatchMessage). Exit status 1;
 * - there is no plaintext path: rsync with RSYNC_CONNECT_PROG never opens a socket of its own, and this program only
 *   speaks TLS to the server.
 *
 * Settings come from the environment (the agent sets them for that one rsync run):
 *   RSYNCHUB_TLS_HOST, RSYNCHUB_TLS_PORT, RSYNCHUB_TLS_FINGERPRINT (canonical AB:CD:..., optional),
 *   RSYNCHUB_TLS_CA_FILE (optional), RSYNCHUB_TLS_TIMEOUT_MS (connect + handshake; 0 = none),
 *   RSYNCHUB_TLS_CERT_FILE + RSYNCHUB_TLS_KEY_FILE (optional: the client certificate, PEM, and its unencrypted key).
 * A server that refuses the client certificate (or wants one and gets none) says so with a TLS alert, with TLS 1.3 only
 * after the handshake: that alert, in the handshake or on the first read, is a failure line too, never a silent end.
 * `rsynchub-tls --version` prints the OpenSSL version and exits 0 (the agent's probe that the binary runs).
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
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#define SSL_get1_peer_certificate SSL_get_peer_certificate
#endif

#define BUF (256 * 1024)

static const char *host, *port_s, *pin, *ca_file, *cert_file, *key_file;
static long timeout_ms;
static struct timespec t_start;

/* What the verify callback saw first: the error and the leaf's names and end date (for the agent's message). */
static int verify_err = 0;
/* "verify" when the certificate was refused (never retried as is), so the agent cannot take it for a network error. */
static const char *kind_hint;
static char alt_names[2048];
/* The server asked for a client certificate and none was set (OpenSSL calls the client-cert callback only then). */
static int cert_requested = 0;
static char valid_to[64];

/* Copies s into the failure line without tabs or line breaks (they separate fields and lines). */
static void put_field(const char *key, const char *value) {
  fprintf(stderr, "\t%s=", key);
  for (const unsigned char *p = (const unsigned char *)value; *p; p++) fputc(*p == '\t' || *p == '\n' || *p == '\r' ? ' ' : *p, stderr);
}

static void fail(const char *code, const char *message, const char *got) {
  fputs("rsynchub-agent tls-native:", stderr);
  put_field("code", code);
  put_field("message", message);
  if (kind_hint) put_field("kind", kind_hint);
  if (got) put_field("got", got);
  if (alt_names[0]) put_field("alt", alt_names);
  if (valid_to[0]) put_field("validto", valid_to);
  if (cert_requested) put_field("certrequested", "1");
  fputc('\n', stderr);
  fflush(stderr);
  exit(1);
}

static long elapsed_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - t_start.tv_sec) * 1000 + (now.tv_nsec - t_start.tv_nsec) / 1000000;
}

/* Milliseconds left for connect + handshake (-1: no limit); fails with TIMEOUT when none are. */
static int left_ms(void) {
  if (timeout_ms <= 0) return -1;
  long left = timeout_ms - elapsed_ms();
  if (left <= 0) fail("TIMEOUT", "connect and handshake took longer than connectTimeoutSec", NULL);
  return (int)left;
}

/* rsync gave up on us (killed, timed out): nothing to connect for; leave without a word. */
static void check_rsync_gone(const struct pollfd *p) {
  if (p->revents & (POLLRDHUP | POLLHUP | POLLERR)) exit(1);
}

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static const char *errno_code(int e) {
  switch (e) {
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EPIPE: return "EPIPE";
    default: return "ECONNECT";
  }
}

/* A connected, non-blocking TCP socket to host:port, trying each address in turn within the time limit. */
static int connect_tcp(void) {
  struct addrinfo hints = {0}, *res, *ai;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  int g = getaddrinfo(host, port_s, &hints, &res);
  if (g != 0) fail(g == EAI_NONAME || g == EAI_NODATA ? "ENOTFOUND" : "EAI_AGAIN", gai_strerror(g), NULL);
  int last = ECONNREFUSED;
  for (ai = res; ai; ai = ai->ai_next) {
    int s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (s < 0) { last = errno; continue; }
    set_nonblock(s);
    if (connect(s, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) { last = errno; close(s); continue; }
    struct pollfd p[2] = {{s, POLLOUT, 0}, {0, POLLRDHUP, 0}};
    int r;
    while ((r = poll(p, 2, left_ms())) < 0 && errno == EINTR) {}
    check_rsync_gone(&p[1]);
    if (r == 0 || !(p[0].revents & (POLLOUT | POLLERR | POLLHUP))) { close(s); left_ms(); fail("TIMEOUT", "connect took longer than connectTimeoutSec", NULL); }
    int soerr = 0;
    socklen_t len = sizeof soerr;
    getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &len);
    if (soerr != 0) { last = soerr; close(s); continue; }
    freeaddrinfo(res);
    int one = 1;
    /* rsync's protocol start is many small writes, each waiting on the peer: no Nagle delay. */
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int sz = 1 << 20;
    setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    return s;
  }
  freeaddrinfo(res);
  fail(errno_code(last), strerror(last), NULL);
  return -1;
}

/* "DNS:a, IP Address:1.2.3.4" (the form node's subjectaltname has) and the end date, of the leaf certificate. */
static void describe(X509 *cert) {
  if (!cert || alt_names[0] || valid_to[0]) return;
  GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
  size_t used = 0;
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
    const GENERAL_NAME *n = sk_GENERAL_NAME_value(names, i);
    char item[300] = "";
    if (n->type == GEN_DNS) {
      snprintf(item, sizeof item, "DNS:%.*s", ASN1_STRING_length(n->d.dNSName), (const char *)ASN1_STRING_get0_data(n->d.dNSName));
    } else if (n->type == GEN_IPADD) {
      char ip[INET6_ADDRSTRLEN] = "?";
      int len = ASN1_STRING_length(n->d.iPAddress);
      inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(n->d.iPAddress), ip, sizeof ip);
      snprintf(item, sizeof item, "IP Address:%s", ip);
    } else {
      continue;
    }
    used += snprintf(alt_names + used, sizeof alt_names - used, "%s%s", used ? ", " : "", item);
    if (used >= sizeof alt_names - 1) break;
  }
  GENERAL_NAMES_free(names);
  BIO *b = BIO_new(BIO_s_mem());
  if (b && ASN1_TIME_print(b, X509_get0_notAfter(cert))) {
    int n = BIO_read(b, valid_to, sizeof valid_to - 1);
    valid_to[n > 0 ? n : 0] = 0;
  }
  BIO_free(b);
}

static int on_verify(int ok, X509_STORE_CTX *ctx) {
  if (!ok && !verify_err) {
    verify_err = X509_STORE_CTX_get_error(ctx);
    /* The leaf's names and dates, whichever certificate of the chain failed. */
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
    describe(chain && sk_X509_num(chain) > 0 ? sk_X509_value(chain, 0) : X509_STORE_CTX_get0_cert(ctx));
  }
  return ok;
}

/* node's names for OpenSSL's verify errors (what tls-options.ts explainTlsError reads). */
static const char *verify_code(int e) {
  switch (e) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH: return "ERR_TLS_CERT_ALTNAME_INVALID";
    case X509_V_ERR_CERT_HAS_EXPIRED: return "CERT_HAS_EXPIRED";
    case X509_V_ERR_CERT_NOT_YET_VALID: return "CERT_NOT_YET_VALID";
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT: return "DEPTH_ZERO_SELF_SIGNED_CERT";
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN: return "SELF_SIGNED_CERT_IN_CHAIN";
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY: return "UNABLE_TO_GET_ISSUER_CERT_LOCALLY";
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE: return "UNABLE_TO_VERIFY_LEAF_SIGNATURE";
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT: return "UNABLE_TO_GET_ISSUER_CERT";
    case X509_V_ERR_CERT_SIGNATURE_FAILURE: return "CERT_SIGNATURE_FAILURE";
    case X509_V_ERR_CERT_REVOKED: return "CERT_REVOKED";
    case X509_V_ERR_INVALID_CA: return "INVALID_CA";
    case X509_V_ERR_INVALID_PURPOSE: return "INVALID_PURPOSE";
    default: return "CERT_UNTRUSTED";
  }
}

/* A handshake error in node's form: ERR_SSL_ + OpenSSL's reason in capitals ("wrong version number"). */
static void fail_ssl(const char *what, int sys_errno) {
  unsigned long e = ERR_peek_last_error();
  if (verify_err) kind_hint = "verify";
  if (verify_err) fail(verify_code(verify_err), X509_verify_cert_error_string(verify_err), NULL);
  if (!e) {
    if (sys_errno) fail(errno_code(sys_errno), strerror(sys_errno), NULL);
    fail("ECONNRESET", "the server closed the connection during the TLS handshake", NULL);
  }
  const char *reason = ERR_reason_error_string(e);
  char code[160] = "ERR_SSL_";
  size_t n = strlen(code);
  for (const char *p = reason ? reason : "handshake failure"; *p && n < sizeof code - 1; p++) {
    code[n++] = (*p >= 'a' && *p <= 'z') ? *p - 32 : (*p == ' ' ? '_' : *p);
  }
  code[n] = 0;
  char msg[300];
  snprintf(msg, sizeof msg, "%s: %s", what, reason ? reason : "handshake failure");
  fail(code, msg, NULL);
}

/* Waits for the socket as the TLS engine asked (WANT_READ / WANT_WRITE) within the time limit. */
static void wait_for(int s, int ssl_err) {
  struct pollfd p[2] = {{s, ssl_err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, 0}, {0, POLLRDHUP, 0}};
  int r;
  while ((r = poll(p, 2, left_ms())) < 0 && errno == EINTR) {}
  check_rsync_gone(&p[1]);
  if (r == 0) { left_ms(); fail("TIMEOUT", "the TLS handshake took longer than connectTimeoutSec", NULL); }
}

static void relay(SSL *ssl, int s);

/* Whether OpenSSL's last error is the server's alert refusing our client certificate (or its absence). */
static int client_cert_alert(void) {
  unsigned long e = ERR_peek_last_error();
  if (!e || ERR_GET_LIB(e) != ERR_LIB_SSL) return 0;
  switch (ERR_GET_REASON(e)) {
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED: return 1;
    default: return 0;
  }
}

static int on_cert_request(SSL *ssl, X509 **x509, EVP_PKEY **pkey) {
  (void)ssl; (void)x509; (void)pkey;
  cert_requested = 1;
  return 0; /* none: the handshake goes on without one, and the server decides */
}

/* OpenSSL's default for an encrypted key is to prompt on the terminal: give no passphrase instead (loading fails). */
static int no_passphrase(char *buf, int size, int rwflag, void *u) {
  (void)buf; (void)size; (void)rwflag; (void)u;
  return 0;
}

/* The client certificate and key (RSYNCHUB_TLS_CERT_FILE / _KEY_FILE), read at connect time (after a standby's go, so
 * a renewed file is used). The agent checked both at start; a failure here means they changed since. */
static void load_client_cert(SSL_CTX *ctx) {
  if (!cert_file && !key_file) return;
  char msg[1200];
  if (!cert_file || !key_file) fail("ECLIENTCERT", "RSYNCHUB_TLS_CERT_FILE and RSYNCHUB_TLS_KEY_FILE go together", NULL);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
    snprintf(msg, sizeof msg, "cannot use clientCert %s (%s)", cert_file, ERR_reason_error_string(ERR_peek_last_error()) ? ERR_reason_error_string(ERR_peek_last_error()) : "no PEM certificate");
    fail("ECLIENTCERT", msg, NULL);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
    snprintf(msg, sizeof msg, "cannot use clientKey %s (%s)", key_file, ERR_reason_error_string(ERR_peek_last_error()) ? ERR_reason_error_string(ERR_peek_last_error()) : "no PEM private key");
    fail("ECLIENTCERT", msg, NULL);
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    snprintf(msg, sizeof msg, "clientKey %s is not the private key of clientCert %s", key_file, cert_file);
    fail("ECLIENTCERT", msg, NULL);
  }
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--version") == 0) {
    printf("rsynchub-tls %s\n", OpenSSL_version(OPENSSL_VERSION));
    return 0;
  }
  signal(SIGPIPE, SIG_IGN);
  clock_gettime(CLOCK_MONOTONIC, &t_start);
  host = getenv("RSYNCHUB_TLS_HOST");
  port_s = getenv("RSYNCHUB_TLS_PORT");
  pin = getenv("RSYNCHUB_TLS_FINGERPRINT");
  ca_file = getenv("RSYNCHUB_TLS_CA_FILE");
  cert_file = getenv("RSYNCHUB_TLS_CERT_FILE");
  key_file = getenv("RSYNCHUB_TLS_KEY_FILE");
  if (cert_file && !*cert_file) cert_file = NULL;
  if (key_file && !*key_file) key_file = NULL;
  const char *t = getenv("RSYNCHUB_TLS_TIMEOUT_MS");
  if (pin && !*pin) pin = NULL;
  if (ca_file && !*ca_file) ca_file = NULL;
  timeout_ms = t ? strtol(t, NULL, 10) : 0;
  if (!host || !*host || !port_s || !*port_s) fail("ESETTINGS", "RSYNCHUB_TLS_HOST and RSYNCHUB_TLS_PORT must be set (by the agent)", NULL);

  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) fail_ssl("TLS setup", 0);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  /* Bulk relay: write what fits (no need to resubmit the same buffer), and read ahead whole records per syscall. */
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_default_read_buffer_len(ctx, 64 * 1024);
  int pin_only = pin && !ca_file;
  if (!pin_only) {
    if (ca_file) {
      FILE *f = fopen(ca_file, "r");
      if (!f) {
        int e = errno;
        char msg[600];
        snprintf(msg, sizeof msg, "cannot read caFile %s (%s)", ca_file, e == ENOENT ? "ENOENT" : e == EACCES ? "EACCES" : strerror(e));
        fail("ECAFILE", msg, NULL);
      }
      fclose(f);
      if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) fail("ECAFILE", "caFile holds no PEM certificate OpenSSL can read", NULL);
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      fail_ssl("loading the system CAs", 0);
    }
    /* The handshake is aborted on any chain or name error; on_verify keeps the first one for the message. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, on_verify);
  } else {
    /* A pin alone is the whole trust: checked against the leaf below, before anything is relayed. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  }

  /* A warm standby rsync (the agent's warm-standby.ts): the TLS context is ready, and the connector holds here, before
   * it connects, until the agent writes 'g' on the inherited fd RSYNCHUB_GATE_FD. EOF or anything else: the standby was
   * discarded (or the agent is gone), so leave without a word and without connecting. The connect time limit counts
   * from the go. Once released the process is named "rsynchub-relay" (as the plain gate: the bench tells runs by it). */
  const char *gate_s = getenv("RSYNCHUB_GATE_FD");
  if (gate_s && *gate_s) {
    int gate = atoi(gate_s);
    char c = 0;
    ssize_t n;
    while ((n = read(gate, &c, 1)) < 0 && errno == EINTR) {}
    if (n != 1 || c != 'g') return 1;
    close(gate);
    prctl(PR_SET_NAME, "rsynchub-relay", 0, 0, 0);
    clock_gettime(CLOCK_MONOTONIC, &t_start);
  }
  /* An encrypted key would make OpenSSL prompt on the terminal: never (the agent refuses such keys at start anyway). */
  SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
  load_client_cert(ctx);
  if (!cert_file) SSL_CTX_set_client_cert_cb(ctx, on_cert_request);
  int s = connect_tcp();
  SSL *ssl = SSL_new(ctx);
  SSL_set_fd(ssl, s);
  unsigned char ip[16];
  int is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
  if (!is_ip) SSL_set_tlsext_host_name(ssl, host);
  if (!pin_only) {
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    /* NEVER_CHECK_SUBJECT: only subjectAltName names count. Without it OpenSSL falls back to the subject CN when the
     * certificate has no DNS name, and a CA-signed certificate that merely says CN=<host> would pass. */
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
    if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1 : X509_VERIFY_PARAM_set1_host(param, host, 0) != 1) {
      fail("ERR_TLS_CERT_ALTNAME_INVALID", "the host name cannot be checked", NULL);
    }
  }
  for (;;) {
    ERR_clear_error();
    errno = 0;
    int r = SSL_connect(ssl);
    if (r == 1) break;
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) { wait_for(s, e); continue; }
    fail_ssl("TLS handshake", e == SSL_ERROR_SYSCALL ? errno : 0);
  }
  X509 *leaf = SSL_get1_peer_certificate(ssl);
  if (!leaf) fail("ERR_SSL_NO_CERTIFICATE", "the server sent no certificate", NULL);
  if (pin) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    X509_digest(leaf, EVP_sha256(), md, &len);
    char got[3 * EVP_MAX_MD_SIZE] = "";
    for (unsigned int i = 0; i < len; i++) sprintf(got + 3 * i, i + 1 < len ? "%02X:" : "%02X", md[i]);
    if (strcasecmp(got, pin) != 0) kind_hint = "verify";
    if (strcasecmp(got, pin) != 0) fail("PIN_MISMATCH", "the certificate's SHA-256 fingerprint is not the pinned one", got);
  }
  if (!pin_only && SSL_get_verify_result(ssl) != X509_V_OK) {
    int e = (int)SSL_get_verify_result(ssl);
    kind_hint = "verify";
    fail(verify_code(e), X509_verify_cert_error_string(e), NULL);
  }
  X509_free(leaf);
  relay(ssl, s);
  return 0;
}

/* The connection ended before the server sent a byte: the rsync daemon speaks first, so the server refused us after
 * the handshake (a TLS front that checks client certificates then and closes without an alert). */
static void fail_before_greeting(void) {
  fail("ECLOSED_AFTER_HANDSHAKE", "the server closed the connection before the rsync greeting", NULL);
}

/* Sends what the record buffer holds. 0: the connection is broken (a failure line first when the server never spoke). */
static int flush_records(BIO *wbio, short *want_s, int *progress, unsigned long long down_total) {
  if (BIO_wpending(wbio) <= 0) return 1;
  if (BIO_flush(wbio) == 1) *progress = 1;
  else if (BIO_should_retry(wbio)) *want_s |= POLLOUT;
  else if (down_total == 0) fail_before_greeting();
  else return 0;
  return 1;
}

/* Whether an SSL_write / SSL_read that failed only waits for room on the socket. A KeyUpdate (TLS 1.3) or a
 * renegotiation (TLS 1.2) is written through OpenSSL's own handshake buffer BIO, pushed on top of the record buffer;
 * OpenSSL 3.0's buffer BIO does not pass on the retry of a flush it forwards while empty, so a full socket then reads
 * as SSL_ERROR_SYSCALL (no error queued, errno EAGAIN) although the record buffer below says "retry write". */
static int want_write(SSL *ssl, int e, BIO *wbio) {
  if (e == SSL_ERROR_WANT_WRITE) return 1;
  return e == SSL_ERROR_SYSCALL && SSL_want_write(ssl) && ERR_peek_error() == 0 && BIO_should_write(wbio) && BIO_should_retry(wbio);
}

/* The last records (close_notify among them) before leaving: waits for the socket at most 5 s in all. */
static void flush_at_end(BIO *wbio, int s) {
  for (int waited = 0; BIO_wpending(wbio) > 0 && waited < 50; waited++) {
    if (BIO_flush(wbio) == 1 || !BIO_should_retry(wbio)) return;
    struct pollfd p = {s, POLLOUT, 0};
    poll(&p, 1, 100);
  }
}

/*
 * Both directions in one poll loop: rsync (fd 0 in, fd 1 out: the two ends rsync gave us) <-> TLS.
 * Ends when rsync closes its side (close_notify is sent) or the server ends the TLS stream (what is left is flushed
 * to rsync first). Any error ends the relay: rsync sees its connection close and reports the run as failed.
 */
static void relay(SSL *ssl, int s) {
  static unsigned char up[BUF], down[BUF];
  size_t up_len = 0, up_off = 0, down_len = 0, down_off = 0;
  /* Bytes the server sent: the rsync daemon speaks first, so an end before any means the server refused us after the
   * handshake (a TLS front that checks client certificates then and closes without an alert). */
  unsigned long long down_total = 0;
  int in_eof = 0, tls_eof = 0;
  /* rsync closed its end while we were not reading it (blocked on a server that stopped reading): from then on only
   * a short grace to flush what is pending, then we leave; else a stalled server would keep us (and rsync's stderr,
   * which we inherit, so the agent never sees the run end) forever. */
  int rsync_closed = 0;
  /* rsync's end is a loopback TCP socket pair (rsync's socketpair_tcp), not a unix one, and rsync sets no option on it:
   * Nagle on rsync's side holds each small protocol message until our ACK of the previous one, which the kernel delays
   * by up to 40 ms. So: no Nagle on our side, and an immediate ACK for everything rsync sends (TCP_QUICKACK, which the
   * kernel clears again now and then: re-armed after every read). Measured: ~60 ms less per small push. */
  int one = 1;
  setsockopt(0, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(1, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(0, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
  set_nonblock(0);
  set_nonblock(1);
  set_nonblock(s);
  /* Records go out in big writes: OpenSSL hands each 16 KiB record to its BIO on its own, one send() each, and on a
   * busy 2-CPU source those ~13,000 sends per 200 MB (each running loopback or NIC transmit work) cost more than one
   * more memcpy into a 256 KiB buffer flushed per round. Nothing waits in it: every round ends with a flush, and a
   * round whose flush cannot finish polls for POLLOUT. */
  BIO *sock = SSL_get_wbio(ssl);
  BIO_up_ref(sock);
  BIO *wbio = BIO_new(BIO_f_buffer());
  if (wbio && BIO_set_write_buffer_size(wbio, BUF) == 1) {
    BIO_push(wbio, sock);
    SSL_set0_wbio(ssl, wbio);
  } else {
    if (wbio) BIO_free(wbio);
    BIO_free(sock);
    wbio = SSL_get_wbio(ssl);
  }
  for (;;) {
    int progress = 0;
    short want_s = 0, want_in = 0, want_out = 0;
    /* rsync -> TLS */
    if (!in_eof && up_len == 0) {
      ssize_t n = read(0, up, BUF);
      if (n > 0) {
        up_len = (size_t)n;
        up_off = 0;
        progress = 1;
        setsockopt(0, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
      }
      else if (n == 0 || (errno != EAGAIN && errno != EINTR)) in_eof = 1;
      else want_in = POLLIN;
    }
    while (up_off < up_len) {
      ERR_clear_error();
      int r = SSL_write(ssl, up + up_off, (int)(up_len - up_off));
      if (r > 0) { up_off += (size_t)r; progress = 1; continue; }
      int e = SSL_get_error(ssl, r);
      if (want_write(ssl, e, wbio)) want_s |= POLLOUT;
      else if (e == SSL_ERROR_WANT_READ) want_s |= POLLIN;
      else if (e == SSL_ERROR_SSL && client_cert_alert()) { kind_hint = "verify"; fail_ssl("TLS", 0); }
      else if (down_total == 0) fail_before_greeting();
      else return; /* the server went away */
      break;
    }
    if (up_off == up_len) up_len = up_off = 0;
    if (!flush_records(wbio, &want_s, &progress, down_total)) return; /* the server went away */
    if (in_eof && up_len == 0 && BIO_wpending(wbio) == 0) {
      SSL_shutdown(ssl); /* close_notify: a clean end the server can tell from a cut connection */
      flush_at_end(wbio, s);
      return;
    }
    /* TLS -> rsync: fill the buffer with as many records as are there */
    while (!tls_eof && down_len < BUF) {
      ERR_clear_error();
      int r = SSL_read(ssl, down + down_len, (int)(BUF - down_len));
      if (r > 0) { down_len += (size_t)r; down_total += (unsigned long long)r; progress = 1; continue; }
      int e = SSL_get_error(ssl, r);
      if (e == SSL_ERROR_WANT_READ) want_s |= POLLIN;
      else if (want_write(ssl, e, wbio)) want_s |= POLLOUT;
      else if (e == SSL_ERROR_SSL && client_cert_alert()) { kind_hint = "verify"; fail_ssl("TLS", 0); }
      else if (down_total == 0) fail_before_greeting();
      else tls_eof = 1; /* close_notify, or the connection ended */
      break;
    }
    while (down_off < down_len) {
      ssize_t n = write(1, down + down_off, down_len - down_off);
      if (n > 0) { down_off += (size_t)n; progress = 1; continue; }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) want_out = POLLOUT;
      else return; /* rsync went away */
      break;
    }
    if (down_off == down_len) down_len = down_off = 0;
    if (tls_eof && down_len == 0) {
      flush_at_end(wbio, s);
      return;
    }
    /* What reading wrote (a TLS 1.3 KeyUpdate answer) goes out now, not with the next upload. */
    if (!flush_records(wbio, &want_s, &progress, down_total)) return;
    if (progress) continue;
    struct pollfd p[4];
    int np = 0, watch = -1;
    if (want_in) p[np++] = (struct pollfd){0, POLLIN, 0};
    else if (!in_eof && !rsync_closed) { watch = np; p[np++] = (struct pollfd){0, POLLRDHUP, 0}; }
    if (want_out) p[np++] = (struct pollfd){1, POLLOUT, 0};
    if (want_s) p[np++] = (struct pollfd){s, want_s, 0};
    if (np == 0) continue;
    /* rsync's end is closed: seen while not reading it (rsync_closed), or read to its end with the last records still
     * in the record buffer (in_eof: the buffer took them once the socket was full). Either way only a grace of 5 s
     * without progress: a server that takes nothing more must not keep us here. */
    int grace = rsync_closed || in_eof;
    int r;
    while ((r = poll(p, np, grace ? 5000 : -1)) < 0 && errno == EINTR) {}
    if (r == 0 && grace) return; /* rsync is gone and the server takes nothing: give up */
    if (watch >= 0 && (p[watch].revents & (POLLRDHUP | POLLHUP | POLLERR))) rsync_closed = 1;
  }
}
