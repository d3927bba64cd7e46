/*
 * Hostile job module for the sandbox's escape suite (seller-server/test/jobSandbox.test.ts): argv[1]
 * names the attack. Each attack either tries something the sandbox must refuse and prints what it
 * got (the test checks nothing leaked), or exhausts a resource (the test checks the typed error).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <wasi/api.h>

extern char **environ;

/* Tries to read `path` through libc; prints "READ <first line>" or the errno. */
static void try_read(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    printf("%s: errno %d\n", path, errno);
    return;
  }
  char buf[256];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  buf[n > 0 ? n : 0] = '\0';
  char *newline = strchr(buf, '\n');
  if (newline) *newline = '\0';
  printf("%s: READ %s\n", path, buf);
  close(fd);
}

/* Tries path_open directly on descriptor `dirfd` with `path`, no libc path resolution in between. */
static void try_raw_open(__wasi_fd_t dirfd, const char *path) {
  __wasi_fd_t fd;
  __wasi_errno_t err = __wasi_path_open(dirfd, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, path, 0,
                                        __WASI_RIGHTS_FD_READ, 0, 0, &fd);
  if (err != 0) {
    printf("raw %u %s: errno %u\n", dirfd, path, err);
    return;
  }
  char buf[256];
  __wasi_iovec_t iov = {(uint8_t *)buf, sizeof buf - 1};
  __wasi_size_t n = 0;
  if (__wasi_fd_read(fd, &iov, 1, &n) != 0) n = 0;
  buf[n] = '\0';
  printf("raw %u %s: READ %s\n", dirfd, path, buf);
}

static int read_outside(void) {
  const char *paths[] = {"/in/../secret.txt", "/in/../../etc/passwd", "/etc/passwd", "../etc/passwd",
                         "/in/link-to-secret", "/in/dir-link/secret.txt", "/proc/self/environ", "/out/../in/data.txt",
                         "/in/data.txt"};
  for (unsigned i = 0; i < sizeof paths / sizeof *paths; i++) try_read(paths[i]);
  for (__wasi_fd_t fd = 3; fd < 6; fd++) {
    try_raw_open(fd, "../secret.txt");
    try_raw_open(fd, "../../../../etc/passwd");
    try_raw_open(fd, "/etc/passwd");
    try_raw_open(fd, "link-to-secret");
    try_raw_open(fd, "dir-link/secret.txt");
  }
  DIR *dir = opendir("/in");
  if (dir) {
    struct dirent *entry;
    while ((entry = readdir(dir))) printf("entry %s\n", entry->d_name);
    closedir(dir);
  }
  return 0;
}

static int write_input(void) {
  int fd = open("/in/data.txt", O_WRONLY | O_TRUNC);
  printf("truncate: %s %d\n", fd < 0 ? "refused" : "OPENED", errno);
  fd = open("/in/new.txt", O_WRONLY | O_CREAT, 0644);
  printf("create: %s %d\n", fd < 0 ? "refused" : "OPENED", errno);
  printf("unlink: %s\n", unlink("/in/data.txt") < 0 ? "refused" : "DONE");
  printf("mkdir: %s\n", mkdir("/in/sub", 0755) < 0 ? "refused" : "DONE");
  printf("rename: %s\n", rename("/in/data.txt", "/out/data.txt") < 0 ? "refused" : "DONE");
  return 0;
}

static int print_env(void) {
  for (char **e = environ; *e; e++) printf("%s\n", *e);
  return 0;
}

static int network(void) {
  /* WASI preview 1 has no socket creation; the only socket calls work on descriptors the host hands over. */
  for (__wasi_fd_t fd = 0; fd < 8; fd++) {
    __wasi_fd_t accepted;
    __wasi_errno_t a = __wasi_sock_accept(fd, 0, &accepted);
    __wasi_ciovec_t iov = {(const uint8_t *)"GET / HTTP/1.0\r\n\r\n", 18};
    __wasi_size_t sent = 0;
    __wasi_errno_t s = __wasi_sock_send(fd, &iov, 1, 0, &sent);
    printf("fd %u: accept errno %u, send errno %u\n", fd, a, s);
  }
  return 0;
}

static int grow_memory(void) {
  /* Grows linear memory 1 MiB at a time, touching each page, until the host refuses; then traps like malloc failure. */
  for (;;) {
    long before = __builtin_wasm_memory_grow(0, 16);
    if (before < 0) {
      printf("grow refused at %ld pages\n", (long)__builtin_wasm_memory_size(0));
      fflush(stdout);
      __builtin_trap();
    }
    memset((void *)(before * 65536), 1, 16 * 65536);
  }
}

static int busy(void) {
  volatile unsigned long n = 0;
  for (;;) n++;
}

static int sleep_forever(void) {
  printf("sleeping\n");
  fflush(stdout);
  for (;;) sleep(1000);
}

static int flood(FILE *stream) {
  static char block[65536];
  memset(block, 'x', sizeof block);
  for (;;) fwrite(block, 1, sizeof block, stream);
}

static int flood_file(void) {
  FILE *file = fopen("/out/flood.bin", "w");
  if (!file) return 3;
  return flood(file);
}

static int many_files(void) {
  char name[64];
  for (unsigned long i = 0;; i++) {
    snprintf(name, sizeof name, "/out/f%lu", i);
    int fd = open(name, O_WRONLY | O_CREAT, 0644);
    if (fd < 0) return 4;
    close(fd);
  }
}

static int ticks(int count) {
  /* A well-behaved job that writes a line every 20 ms (real sleeps) for `count` lines. */
  for (int i = 0; i < count; i++) {
    printf("tick %d\n", i);
    fflush(stdout);
    usleep(20000);
  }
  return 0;
}

static int churn(void) {
  /* A long job: burns CPU and prints a line every ten million iterations, forever. */
  volatile unsigned long n = 0;
  for (unsigned long line = 0;; line++) {
    for (unsigned long i = 0; i < 10000000; i++) n++;
    printf("churn %lu\n", line);
    fflush(stdout);
  }
}

static int hello(int argc, char **argv) {
  printf("hello from wasi, %d args\n", argc);
  for (int i = 0; i < argc; i++) printf("arg %s\n", argv[i]);
  FILE *file = fopen("/out/hello.txt", "w");
  if (file) {
    fprintf(file, "written by the module\n");
    fclose(file);
  }
  fprintf(stderr, "a line on stderr\n");
  return argc > 2 ? atoi(argv[2]) : 0;
}

int main(int argc, char **argv) {
  const char *attack = argc > 1 ? argv[1] : "hello";
  if (strcmp(attack, "read-outside") == 0) return read_outside();
  if (strcmp(attack, "write-input") == 0) return write_input();
  if (strcmp(attack, "env") == 0) return print_env();
  if (strcmp(attack, "network") == 0) return network();
  if (strcmp(attack, "grow-memory") == 0) return grow_memory();
  if (strcmp(attack, "busy") == 0) return busy();
  if (strcmp(attack, "sleep") == 0) return sleep_forever();
  if (strcmp(attack, "flood-stdout") == 0) return flood(stdout);
  if (strcmp(attack, "flood-stderr") == 0) return flood(stderr);
  if (strcmp(attack, "flood-file") == 0) return flood_file();
  if (strcmp(attack, "many-files") == 0) return many_files();
  if (strcmp(attack, "churn") == 0) return churn();
  if (strcmp(attack, "ticks") == 0) return ticks(argc > 2 ? atoi(argv[2]) : 10);
  return hello(argc, argv);
}
