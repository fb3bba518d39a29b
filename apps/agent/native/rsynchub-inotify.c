/*
 * rsynchub-inotify: recursive inotify watch of one directory tree, for the RsyncHub agent (apps/agent/src/inotify-watcher.ts).
 *
 * Why not @parcel/watcher: it coalesces events per path per delivery and drops a path that was created and deleted in
 * one delivery (a rename onto an existing name counts as "created", so `mv x.tmp x; rm x` vanishes without a trace),
 * and it skips IN_Q_OVERFLOW without telling anyone. This helper reports every raw event, the overflow, watches it
 * cannot add, and the root going away; names are passed on as raw bytes (non-UTF-8 names round-trip).
 *
 * Usage: rsynchub-inotify [--retry-ms N] ROOT
 * Output on stdout, one record per event: a type byte, fields each ending in NUL:
 *   c PATH   created or moved in (its previous state is unknown: it may have replaced something)
 *   u PATH   content or attributes changed
 *   d PATH   deleted or moved away
 *   O ROOT   the kernel's event queue overflowed: events were lost
 *   E PATH MESSAGE   cannot watch the directory PATH (e.g. the watch limit); retried every --retry-ms
 *   W PATH   a directory that could not be watched is watched now (push it again)
 *   R ROOT   the root itself was deleted, moved or unmounted; the helper exits after it
 *   S COUNT  ready: the initial watches are in place (COUNT directories)
 * New directories are watched with their whole subtree before their 'c' record is written, so a push of the directory
 * that starts after the record covers everything written before its watches existed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define MASK (IN_ATTRIB | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MODIFY | IN_MOVE_SELF | IN_MOVED_FROM | \
              IN_MOVED_TO | IN_DONT_FOLLOW | IN_ONLYDIR | IN_EXCL_UNLINK)

static int ifd;
static char *root;
static int root_wd = -1;
static long watch_count;

/* ---- wd -> path (open addressing) ---- */
struct slot { int wd; char *path; };
static struct slot *tab;
static size_t tab_cap, tab_used; /* used counts live + tombstones */
#define EMPTY 0
#define TOMB -1

static void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (!p) { fputs("rsynchub-inotify: out of memory\n", stderr); exit(3); }
  return p;
}
static char *xstrdup(const char *s) { size_t n = strlen(s) + 1; char *p = xmalloc(n); memcpy(p, s, n); return p; }

static size_t hash(int wd) { return ((uint32_t)wd * 2654435761u) & (tab_cap - 1); }

static void tab_put(int wd, char *path);
static void tab_grow(void) {
  struct slot *old = tab;
  size_t oldcap = tab_cap;
  tab_cap = tab_cap ? tab_cap * 2 : 1024;
  tab = calloc(tab_cap, sizeof *tab);
  if (!tab) { fputs("rsynchub-inotify: out of memory\n", stderr); exit(3); }
  tab_used = 0;
  watch_count = 0;
  for (size_t i = 0; i < oldcap; i++) if (old[i].wd > 0) tab_put(old[i].wd, old[i].path);
  free(old);
}
static struct slot *tab_find(int wd) {
  if (!tab_cap) return NULL;
  for (size_t i = hash(wd);; i = (i + 1) & (tab_cap - 1)) {
    if (tab[i].wd == EMPTY) return NULL;
    if (tab[i].wd == wd) return &tab[i];
  }
}
static void tab_put(int wd, char *path) {
  struct slot *s = tab_find(wd);
  if (s) { free(s->path); s->path = path; return; }
  if ((tab_used + 1) * 2 > tab_cap) tab_grow();
  size_t i = hash(wd);
  while (tab[i].wd > 0) i = (i + 1) & (tab_cap - 1);
  if (tab[i].wd == EMPTY) tab_used++;
  tab[i].wd = wd;
  tab[i].path = path;
  watch_count++;
}
static void tab_del(struct slot *s) { free(s->path); s->path = NULL; s->wd = TOMB; watch_count--; }

/* ---- directories that could not be watched, retried ---- */
static char **failed;
static size_t nfailed, capfailed;
static void failed_add(const char *p) {
  for (size_t i = 0; i < nfailed; i++) if (strcmp(failed[i], p) == 0) return;
  if (nfailed == capfailed) {
    capfailed = capfailed ? capfailed * 2 : 16;
    failed = realloc(failed, capfailed * sizeof *failed);
    if (!failed) exit(3);
  }
  failed[nfailed++] = xstrdup(p);
}

/* ---- output ---- */
static void out_rec(char type, const char *a, const char *b) {
  putchar_unlocked(type);
  fwrite_unlocked(a, 1, strlen(a) + 1, stdout);
  if (b) fwrite_unlocked(b, 1, strlen(b) + 1, stdout);
}
static void out_flush(void) {
  if (fflush(stdout) != 0) exit(0); /* the agent is gone */
}

static int is_under(const char *p, const char *dir, size_t dlen) {
  return strncmp(p, dir, dlen) == 0 && (p[dlen] == '/' || p[dlen] == '\0');
}

static char *join(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *p = xmalloc(a + b + 2);
  memcpy(p, dir, a);
  p[a] = '/';
  memcpy(p + a + 1, name, b + 1);
  return p;
}

static void add_children(const char *dir, int report_errors);

/* Watches dir and every directory beneath it. Returns 0, or -1 when dir itself could not be watched. */
static int add_tree(const char *dir, int report_errors) {
  int wd = inotify_add_watch(ifd, dir, MASK);
  if (wd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return 0; /* gone meanwhile (its delete event follows) */
    if (report_errors) {
      failed_add(dir);
      out_rec('E', dir, strerror(errno));
    }
    return -1;
  }
  tab_put(wd, xstrdup(dir));
  add_children(dir, report_errors);
  return 0;
}

static void add_children(const char *dir, int report_errors) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || (e->d_name[1] == '.' && e->d_name[2] == '\0'))) continue;
    int isdir = e->d_type == DT_DIR;
    char *child = join(dir, e->d_name);
    if (e->d_type == DT_UNKNOWN) {
      struct stat st;
      isdir = lstat(child, &st) == 0 && S_ISDIR(st.st_mode);
    }
    if (isdir) add_tree(child, report_errors);
    free(child);
  }
  closedir(d);
}

/* Stops watching dir and its subtree (moved out of the tree). */
static void drop_tree(const char *dir) {
  size_t n = strlen(dir);
  for (size_t i = 0; i < tab_cap; i++) {
    if (tab[i].wd > 0 && is_under(tab[i].path, dir, n)) {
      inotify_rm_watch(ifd, tab[i].wd);
      tab_del(&tab[i]);
    }
  }
  for (size_t i = 0; i < nfailed;) {
    if (is_under(failed[i], dir, n)) { free(failed[i]); failed[i] = failed[--nfailed]; }
    else i++;
  }
}

/* A directory renamed inside the tree keeps its watches; their paths follow it. */
static char *rebase(const char *p, size_t flen, const char *to) {
  size_t tlen = strlen(to), rest = strlen(p + flen);
  char *q = xmalloc(tlen + rest + 1);
  memcpy(q, to, tlen);
  memcpy(q + tlen, p + flen, rest + 1);
  return q;
}
static void rename_tree(const char *from, const char *to) {
  size_t n = strlen(from);
  for (size_t i = 0; i < tab_cap; i++) {
    if (tab[i].wd > 0 && is_under(tab[i].path, from, n)) {
      char *q = rebase(tab[i].path, n, to);
      free(tab[i].path);
      tab[i].path = q;
    }
  }
  for (size_t i = 0; i < nfailed; i++) {
    if (is_under(failed[i], from, n)) {
      char *q = rebase(failed[i], n, to);
      free(failed[i]);
      failed[i] = q;
    }
  }
}

struct move { uint32_t cookie; char *from; };

static void retry_failed(void) {
  size_t n = nfailed;
  char **list = failed;
  failed = NULL;
  nfailed = capfailed = 0;
  for (size_t i = 0; i < n; i++) {
    struct stat st;
    if (lstat(list[i], &st) == 0 && S_ISDIR(st.st_mode)) {
      /* Failures (this directory's or beneath it) are listed again by add_tree, with a new 'E'. */
      if (add_tree(list[i], 1) == 0) out_rec('W', list[i], NULL);
    }
    free(list[i]);
  }
  free(list);
}

static void root_gone(void) {
  out_rec('R', root, NULL);
  out_flush();
  exit(0);
}

int main(int argc, char **argv) {
  long retry_ms = 60000;
  int i = 1;
  for (; i < argc - 1; i++) {
    if (strcmp(argv[i], "--retry-ms") == 0 && i + 1 < argc - 1) retry_ms = atol(argv[++i]);
    else break;
  }
  if (i != argc - 1 || retry_ms <= 0) {
    fputs("usage: rsynchub-inotify [--retry-ms N] ROOT\n", stderr);
    return 2;
  }
  prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the agent */
  signal(SIGPIPE, SIG_IGN);
  root = argv[i];
  size_t rl = strlen(root);
  while (rl > 1 && root[rl - 1] == '/') root[--rl] = '\0';
  static char outbuf[1 << 16];
  setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);

  ifd = inotify_init1(IN_CLOEXEC);
  if (ifd < 0) { fprintf(stderr, "rsynchub-inotify: inotify_init1: %s\n", strerror(errno)); return 2; }
  tab_grow();
  root_wd = inotify_add_watch(ifd, root, MASK & ~IN_DONT_FOLLOW); /* the root may be a symlink to the tree */
  if (root_wd < 0) { fprintf(stderr, "rsynchub-inotify: cannot watch %s: %s\n", root, strerror(errno)); return 2; }
  tab_put(root_wd, xstrdup(root));
  add_children(root, 1);
  char count[32];
  snprintf(count, sizeof count, "%ld", watch_count);
  out_rec('S', count, NULL);
  out_flush();

  static char buf[1 << 18] __attribute__((aligned(__alignof__(struct inotify_event))));
  struct move *moves = NULL;
  size_t nmoves = 0, capmoves = 0;
  for (;;) {
    struct pollfd p = { .fd = ifd, .events = POLLIN };
    int r = poll(&p, 1, nfailed > 0 ? (int)(retry_ms > INT_MAX ? INT_MAX : retry_ms) : -1);
    if (r < 0) { if (errno == EINTR) continue; return 2; }
    if (r == 0) { retry_failed(); out_flush(); continue; }
    ssize_t n = read(ifd, buf, sizeof buf);
    if (n < 0) { if (errno == EINTR || errno == EAGAIN) continue; fprintf(stderr, "rsynchub-inotify: read: %s\n", strerror(errno)); return 2; }
    for (char *ptr = buf; ptr < buf + n;) {
      struct inotify_event *ev = (struct inotify_event *)ptr;
      ptr += sizeof *ev + ev->len;
      if (ev->mask & IN_Q_OVERFLOW) { out_rec('O', root, NULL); continue; }
      if (ev->wd == root_wd && (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED))) root_gone();
      struct slot *s = tab_find(ev->wd);
      if (!s) continue;
      if (ev->mask & IN_IGNORED) { tab_del(s); continue; }
      if (ev->len == 0 || ev->name[0] == '\0') {
        /* An event on a watched directory itself: its parent reports it too (deletes and moves included). */
        if (ev->mask & IN_ATTRIB) out_rec('u', s->path, NULL);
        continue;
      }
      char *path = join(s->path, ev->name);
      if (ev->mask & IN_MOVED_FROM) {
        out_rec('d', path, NULL);
        if (ev->mask & IN_ISDIR) {
          if (nmoves == capmoves) { capmoves = capmoves ? capmoves * 2 : 8; moves = realloc(moves, capmoves * sizeof *moves); if (!moves) exit(3); }
          moves[nmoves].cookie = ev->cookie;
          moves[nmoves++].from = path;
          path = NULL;
        }
      } else if (ev->mask & IN_MOVED_TO) {
        if (ev->mask & IN_ISDIR) {
          size_t k = 0;
          while (k < nmoves && moves[k].cookie != ev->cookie) k++;
          if (k < nmoves) {
            rename_tree(moves[k].from, path);
            free(moves[k].from);
            moves[k] = moves[--nmoves];
            /* Watched again too: it may have been renamed before its watch was added (created, then renamed at once);
             * inotify returns the existing watch of an inode already watched, so this only adds what is missing. */
            add_tree(path, 1);
          } else {
            add_tree(path, 1); /* moved in from outside the tree */
          }
        }
        out_rec('c', path, NULL);
      } else if (ev->mask & IN_CREATE) {
        if (ev->mask & IN_ISDIR) add_tree(path, 1);
        out_rec('c', path, NULL);
      } else if (ev->mask & IN_DELETE) {
        out_rec('d', path, NULL);
      } else if (ev->mask & (IN_MODIFY | IN_ATTRIB)) {
        out_rec('u', path, NULL);
      }
      free(path);
    }
    /* A directory moved away without its arrival in the tree left it: its watches would report under a stale path. */
    for (size_t k = 0; k < nmoves; k++) { drop_tree(moves[k].from); free(moves[k].from); }
    nmoves = 0;
    out_flush();
  }
}
