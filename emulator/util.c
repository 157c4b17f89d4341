/* Clocks, ids, base64 and string helpers (see include/lemu/util.h). The id generator is a
 * xoshiro256** PRNG seeded once from getrandom(): request ids are made on the warm invoke path,
 * where a syscall per id would be wasted. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "lemu/util.h"

uint64_t util_now_us(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t util_epoch_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t rng_state[4];
static int rng_seeded;

static uint64_t rotl(uint64_t x, int k)
{
  return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(void)
{
  uint64_t result, t;

  if (!rng_seeded) {
    if (getrandom(rng_state, sizeof(rng_state), 0) != (ssize_t)sizeof(rng_state)) {
      /* No entropy source: fall back to time and address bits (ids only need uniqueness). */
      rng_state[0] = util_now_us() ^ 0x9e3779b97f4a7c15ull;
      rng_state[1] = (uint64_t)(uintptr_t)&rng_state ^ util_epoch_ms();
      rng_state[2] = 0xbf58476d1ce4e5b9ull;
      rng_state[3] = 0x94d049bb133111ebull;
    }
    rng_seeded = 1;
  }
  result = rotl(rng_state[1] * 5, 7) * 9;
  t = rng_state[1] << 17;
  rng_state[2] ^= rng_state[0];
  rng_state[3] ^= rng_state[1];
  rng_state[1] ^= rng_state[2];
  rng_state[0] ^= rng_state[3];
  rng_state[2] ^= t;
  rng_state[3] = rotl(rng_state[3], 45);
  return result;
}

static const char hex_digits[] = "0123456789abcdef";

void util_random_hex(char *out, size_t n)
{
  uint64_t r = 0;
  size_t i;

  for (i = 0; i < n; i++) {
    if (i % 16 == 0)
      r = rng_next();
    out[i] = hex_digits[r & 0xf];
    r >>= 4;
  }
  out[n] = '\0';
}

void util_uuid(char out[LEMU_UUID_LEN + 1])
{
  char h[32 + 1];
  size_t i, j = 0;

  util_random_hex(h, 32);
  h[12] = '4';                              /* version 4 */
  h[16] = hex_digits[8 + (rng_next() & 3)]; /* variant 10xx */
  for (i = 0; i < 32; i++) {
    if (i == 8 || i == 12 || i == 16 || i == 20)
      out[j++] = '-';
    out[j++] = h[i];
  }
  out[j] = '\0';
}

static const char b64_alphabet[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *util_base64_encode(const void *data, size_t len)
{
  const unsigned char *p = data;
  size_t out_len = 4 * ((len + 2) / 3), i, j = 0;
  char *out = malloc(out_len + 1);

  if (!out)
    return NULL;
  for (i = 0; i + 2 < len; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    out[j++] = b64_alphabet[v >> 18];
    out[j++] = b64_alphabet[(v >> 12) & 63];
    out[j++] = b64_alphabet[(v >> 6) & 63];
    out[j++] = b64_alphabet[v & 63];
  }
  if (i < len) {
    uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
    out[j++] = b64_alphabet[v >> 18];
    out[j++] = b64_alphabet[(v >> 12) & 63];
    out[j++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
    out[j++] = '=';
  }
  out[j] = '\0';
  return out;
}

static int b64_value(unsigned char c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

char *util_base64_decode(const char *text, size_t len, size_t *out_len)
{
  size_t i, j = 0, pad = 0;
  uint32_t acc = 0;
  int bits = 0;
  char *out;

  if (len % 4 != 0)
    return NULL;
  while (pad < 2 && len > pad && text[len - 1 - pad] == '=')
    pad++;
  out = malloc(len / 4 * 3 + 1);
  if (!out)
    return NULL;
  for (i = 0; i < len - pad; i++) {
    int v = b64_value((unsigned char)text[i]);
    if (v < 0) {
      free(out);
      return NULL;
    }
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[j++] = (char)((acc >> bits) & 0xff);
    }
  }
  out[j] = '\0';
  *out_len = j;
  return out;
}

char *util_strdup(const char *s)
{
  return s ? strdup(s) : NULL;
}

char *util_asprintf(const char *fmt, ...)
{
  va_list ap;
  char *s = NULL;
  int n;

  va_start(ap, fmt);
  n = vasprintf(&s, fmt, ap);
  va_end(ap);
  return n < 0 ? NULL : s;
}

void util_located_fail(struct util_located *loc, const char *path, const char *fmt, ...)
{
  char *what = NULL;
  va_list ap;

  if (loc->message) /* the first failure is the one reported */
    return;
  va_start(ap, fmt);
  if (vasprintf(&what, fmt, ap) < 0)
    what = NULL;
  va_end(ap);
  loc->message = path && *path ? util_asprintf("%s: %s: %s", loc->file, path, what ? what : "")
                               : util_asprintf("%s: %s", loc->file, what ? what : "");
  free(what);
}

pid_t util_name_pid(const char *name, const char *prefix, char end)
{
  size_t n = strlen(prefix);
  const char *p;
  long v = 0;

  if (strncmp(name, prefix, n) != 0)
    return 0;
  for (p = name + n; *p >= '0' && *p <= '9'; p++) {
    if (v > 99999999)
      return 0; /* longer than any pid: not one */
    v = v * 10 + (*p - '0');
  }
  return p > name + n && *p == end ? (pid_t)v : 0;
}

bool util_pid_gone(pid_t pid)
{
  return pid > 0 && pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH;
}

pid_t util_lemu_name_pid(const char *name)
{
  return util_name_pid(name, "lemu-", '\0');
}

pid_t util_gone_lemu(const char *name)
{
  pid_t pid = util_lemu_name_pid(name);

  return util_pid_gone(pid) ? pid : 0;
}
