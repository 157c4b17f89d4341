/* Fuzzes FunctionName / ARN / qualifier parsing (emulator/arn.c): arn_parse_function() on every
 * input, arn_qualifier_valid() on it too, and the invariants callers rely on: a parsed reference
 * has a name of 1-64 name characters, a valid qualifier when one is set, a 12-digit account when
 * one is set, and re-parsing the canonical form it stands for gives the same reference. */
#include "fuzz_common.h"

#include "lemu/arn.h"

static bool name_chars(const char *s)
{
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
          *s == '-' || *s == '_' || *s == '.'))
      return false;
  return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *in = fuzz_cstr(data, size);
  struct function_ref ref, again;

  (void)arn_qualifier_valid(in);
  if (arn_parse_function(in, &ref)) {
    size_t n = strlen(ref.name);
    FUZZ_CHECK(n >= 1 && n <= ARN_MAX_NAME && name_chars(ref.name));
    FUZZ_CHECK(strlen(in) <= ARN_MAX_FUNCTION_NAME_INPUT);
    FUZZ_CHECK(ref.account[0] == '\0' || strlen(ref.account) == 12);
    if (ref.qualifier[0] && strcmp(ref.qualifier, "$LATEST.PUBLISHED") != 0) {
      /* The parsed qualifier is one a Qualifier query parameter would also accept (the
       * FunctionName pattern alone allows "$LATEST.PUBLISHED": AWS's two models differ). */
      FUZZ_CHECK(arn_qualifier_valid(ref.qualifier));
    }
    {
      char *canon = ref.region[0]
        ? util_asprintf("arn:aws:lambda:%s:%s:function:%s%s%s", ref.region, ref.account, ref.name,
                        ref.qualifier[0] ? ":" : "", ref.qualifier)
        : util_asprintf("%s%s%s", ref.name, ref.qualifier[0] ? ":" : "", ref.qualifier);
      FUZZ_CHECK(canon);
      if (strlen(canon) <= ARN_MAX_FUNCTION_NAME_INPUT) {
        FUZZ_CHECK(arn_parse_function(canon, &again));
        FUZZ_CHECK(!strcmp(again.name, ref.name) && !strcmp(again.qualifier, ref.qualifier) &&
                   !strcmp(again.region, ref.region));
      }
      free(canon);
    }
  }
  free(in);
  return 0;
}
