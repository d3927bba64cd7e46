/* Hostile job module: linked with a 1 GiB initial linear memory (see build.ts); it must not start under a smaller cap. */
#include <stdio.h>

int main(void) {
  puts("started with a huge memory");
  return 0;
}
