/* Fuzzes the API Gateway proxy response contract (emulator/apigw.c): apigw_response_map() turns a
 * function's answer into the HTTP response the front sends. The first byte picks the API kind
 * (bit 0: REST, bit 1: payload format 2.0, so all four combinations), the rest is the answer.
 * Invariants: a success has a status in 200..599 (lemu's range: 1xx cannot end a response), a
 * body, a Content-Type, headers with a non-empty token name and a value free of CR, LF and NUL,
 * within the header byte bound; a failure says why and leaves out untouched; mapping the same
 * answer twice gives the same response; cleanup frees everything (ASan's leak check at exit). */
#include "fuzz_common.h"

#include <stdbool.h>
#include <strings.h>

#include "lemu/apigw.h"

static const char tchar[] = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void check_response(const struct apigw_response *r)
{
  size_t i, bytes = 0;
  bool content_type = false;

  FUZZ_CHECK(r->status >= 200 && r->status <= 599);
  FUZZ_CHECK(r->body != NULL);
  FUZZ_CHECK(r->n_headers == 0 || r->headers != NULL);
  for (i = 0; i < r->n_headers; i++) {
    const char *n = r->headers[i].name, *v = r->headers[i].value;
    FUZZ_CHECK(n && v && n[0]);
    FUZZ_CHECK(strspn(n, tchar) == strlen(n));
    FUZZ_CHECK(!strpbrk(v, "\r\n"));
    bytes += strlen(n) + strlen(v) + 4;
    content_type |= !strcasecmp(n, "Content-Type");
  }
  FUZZ_CHECK(content_type);
  /* the bound counts names before the x-amzn-Remapped- prefix some get: allow for it */
  FUZZ_CHECK(bytes <= APIGW_MAX_RESPONSE_HEADERS + r->n_headers * 32);
}

static bool same(const struct apigw_response *a, const struct apigw_response *b)
{
  size_t i;

  if (a->status != b->status || a->n_headers != b->n_headers || a->body_len != b->body_len ||
      memcmp(a->body, b->body, a->body_len) != 0)
    return false;
  for (i = 0; i < a->n_headers; i++)
    if (strcmp(a->headers[i].name, b->headers[i].name) || strcmp(a->headers[i].value, b->headers[i].value))
      return false;
  return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct apigw_response out, again;
  const char *why = NULL, *why2 = NULL;
  bool rest, v2, ok, ok2;
  char *text;

  if (size < 1)
    return 0;
  rest = data[0] & 1;
  v2 = (data[0] & 2) != 0;
  /* an exact-size heap copy, so ASan sees any read past the answer's end */
  text = malloc(size - 1 ? size - 1 : 1);
  if (!text)
    abort();
  memcpy(text, data + 1, size - 1);
  memset(&out, 0x5a, sizeof(out));
  ok = apigw_response_map(text, size - 1, rest, v2, &out, &why);
  if (ok) {
    check_response(&out);
    FUZZ_CHECK(out.body_len == 0 || out.body);
  } else {
    FUZZ_CHECK(why && why[0]);
    FUZZ_CHECK(out.status == 0x5a5a5a5au); /* filled on success only */
  }
  memset(&again, 0, sizeof(again));
  ok2 = apigw_response_map(text, size - 1, rest, v2, &again, &why2);
  FUZZ_CHECK(ok == ok2);
  if (ok) {
    FUZZ_CHECK(same(&out, &again));
    apigw_response_cleanup(&out);
    apigw_response_cleanup(&again);
    FUZZ_CHECK(out.headers == NULL && out.body == NULL && out.n_headers == 0);
  } else {
    FUZZ_CHECK(why2 && !strcmp(why, why2));
  }
  free(text);
  return 0;
}
