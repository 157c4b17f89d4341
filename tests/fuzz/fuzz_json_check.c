/* Fuzzes the Invoke payload validator (emulator/json_check.c) on raw bytes, exactly as the Invoke
 * path calls it (any bytes, any length, no NUL terminator). Invariants: a rejection carries a
 * non-empty message, the verdict is deterministic and does not depend on whether a message was
 * asked for. (No differential check against cJSON: Jackson and cJSON legitimately disagree on
 * leading zeros, raw control characters and invalid UTF-8 inside strings.) */
#include "fuzz_common.h"

#include "lemu/json_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  /* An exact-size copy, so ASan sees any read one byte past the payload. */
  char *copy = malloc(size ? size : 1), *detail = NULL, *detail2 = NULL;
  bool ok, ok2;

  if (!copy)
    return 0;
  memcpy(copy, data, size);
  ok = json_check(copy, size, &detail);
  ok2 = json_check(copy, size, &detail2);
  FUZZ_CHECK(ok == ok2);
  if (!ok) {
    FUZZ_CHECK(detail && detail[0]);
    FUZZ_CHECK(detail2 && !strcmp(detail, detail2));
  } else {
    FUZZ_CHECK(!detail && !detail2);
  }
  free(detail);
  free(detail2);
  /* Without a message the verdict must not change. */
  FUZZ_CHECK(json_check(copy, size, NULL) == ok);
  free(copy);
  return 0;
}
