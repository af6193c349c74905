/*
 * pfref: the bench's yardstick for "a verified copy, as cheap as C can make it here".
 *
 * Not part of plotferry. It answers one question the bench cannot answer otherwise: how fast can a
 * transfer that hashes every byte on both ends go on this machine, with the fewest copies Linux
 * offers? It is the same job as plotferry (stream a file, hash it on both ends, compare), minus
 * everything that makes plotferry safe to run at 3 a.m. (names, tokens, temporary names, rename,
 * resume, bidding): only the data path.
 *
 *   sender:   mmap the file (64 MiB at a time), hash each 512 KiB with XXH3 from the mapping (no read copy), then
 *             sendfile(2) it (no user-space copy at all);
 *   receiver: read(2) into one 1 MiB buffer, hash it, write(2) it, fsync at the end. (splice(2)
 *             from the socket into the file and hashing through mmap measured no faster here.)
 *
 * Wire: 8-byte size (little endian), the bytes, 8-byte XXH3 of them; the receiver answers 'k'
 * when its own hash matches, 'x' otherwise. Exit status 0 only on a match.
 *
 *   pfref recv HOST PORT OUTFILE      accept one connection, write OUTFILE
 *   pfref send HOST PORT FILE
 *
 * Build: cc -O2 -o pfref pfref.c (needs xxhash.h: Debian's libxxhash-dev). The bench builds it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#define CHUNK (512 * 1024)
#define RBUF (1024 * 1024)
#define WINDOW (64 * 1024 * 1024)

static int die(const char *what) {
  fprintf(stderr, "pfref: %s: %s\n", what, errno ? strerror(errno) : "unexpected end of stream");
  return 1;
}

static int read_full(int fd, void *p, size_t n) {
  for (size_t got = 0; got < n;) {
    ssize_t r = read(fd, (char *)p + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) errno = 0;
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

static int write_full(int fd, const void *p, size_t n) {
  for (size_t put = 0; put < n;) {
    ssize_t w = write(fd, (const char *)p + put, n - put);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    put += (size_t)w;
  }
  return 0;
}

static int address(const char *host, const char *port, struct sockaddr_in *a) {
  memset(a, 0, sizeof *a);
  a->sin_family = AF_INET;
  a->sin_port = htons((uint16_t)atoi(port));
  return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

static int do_send(const char *host, const char *port, const char *file) {
  int fd = open(file, O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) return die(file);
  uint64_t size = (uint64_t)st.st_size;
  struct sockaddr_in a;
  if (address(host, port, &a) < 0) return errno = EINVAL, die(host);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) return die("connect");
  if (write_full(s, &size, 8) < 0) return die("send");
  XXH3_state_t *h = XXH3_createState();
  XXH3_64bits_reset(h);
  // Mapped a window at a time, so the sender's memory does not grow with the file.
  for (uint64_t base = 0; base < size; base += WINDOW) {
    size_t len = size - base < WINDOW ? (size_t)(size - base) : WINDOW;
    const unsigned char *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)base);
    if (map == MAP_FAILED) return die("mmap");
    madvise((void *)map, len, MADV_SEQUENTIAL);
    for (size_t off = 0; off < len;) {
      size_t n = len - off < CHUNK ? len - off : CHUNK;
      XXH3_64bits_update(h, map + off, n);
      off_t o = (off_t)(base + off);
      for (size_t left = n; left > 0;) {
        ssize_t w = sendfile(s, fd, &o, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return die("sendfile");
        left -= (size_t)w;
      }
      off += n;
    }
    munmap((void *)map, len);
  }
  uint64_t digest = XXH3_64bits_digest(h);
  char answer = 0;
  if (write_full(s, &digest, 8) < 0 || read_full(s, &answer, 1) < 0) return die("verdict");
  if (answer != 'k') return fprintf(stderr, "pfref: the receiver's hash differs\n"), 1;
  return 0;
}

static int do_recv(const char *host, const char *port, const char *file) {
  struct sockaddr_in a;
  if (address(host, port, &a) < 0) return errno = EINVAL, die(host);
  int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0) return die("listen");
  int s = accept(l, NULL, NULL);
  if (s < 0) return die("accept");
  int out = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (out < 0) return die(file);
  uint64_t size = 0, theirs = 0;
  if (read_full(s, &size, 8) < 0) return die("header");
  unsigned char *buf = aligned_alloc(4096, RBUF);
  XXH3_state_t *h = XXH3_createState();
  XXH3_64bits_reset(h);
  for (uint64_t got = 0; got < size;) {
    size_t want = size - got < RBUF ? (size_t)(size - got) : RBUF;
    ssize_t r = read(s, buf, want);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) errno = 0;
    if (r <= 0) return die("read");
    XXH3_64bits_update(h, buf, (size_t)r);
    if (write_full(out, buf, (size_t)r) < 0) return die(file);
    got += (uint64_t)r;
  }
  if (read_full(s, &theirs, 8) < 0) return die("trailer");
  if (fsync(out) < 0) return die("fsync");
  int ok = theirs == XXH3_64bits_digest(h);
  if (write_full(s, ok ? "k" : "x", 1) < 0) return die("verdict");
  if (!ok) return fprintf(stderr, "pfref: hash mismatch\n"), 1;
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && !strcmp(argv[1], "send")) return do_send(argv[2], argv[3], argv[4]);
  if (argc == 5 && !strcmp(argv[1], "recv")) return do_recv(argv[2], argv[3], argv[4]);
  fprintf(stderr, "usage: pfref recv HOST PORT OUTFILE | pfref send HOST PORT FILE\n");
  return 2;
}
