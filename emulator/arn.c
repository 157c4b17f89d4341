/* FunctionName parsing (see include/lemu/arn.h): split on ':' and check each part against the
 * corresponding piece of the model's regular expression. */
#include <string.h>

#include "lemu/arn.h"

#define ARN_MAX_PARTS 8

static bool is_alnum(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool all_of(const char *s, size_t n, bool (*ok)(char))
{
  size_t i;

  if (n == 0)
    return false;
  for (i = 0; i < n; i++)
    if (!ok(s[i]))
      return false;
  return true;
}

static bool name_char(char c)
{
  return is_alnum(c) || c == '-' || c == '_' || c == '.';
}

static bool qualifier_char(char c)
{
  return is_alnum(c) || c == '-' || c == '_';
}

static bool digit(char c)
{
  return c >= '0' && c <= '9';
}

static bool lower(char c)
{
  return c >= 'a' && c <= 'z';
}

/* [a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}: since the optional group is itself shaped like
 * -[a-z]+, this is two letters, then one or two "-[a-z]+" segments (the first of two being gov,
 * iso or iso plus one letter), then "-" and one digit. */
static bool region_valid(const char *s, size_t n)
{
  size_t i = 2, segs = 0, first = 0, first_len = 0;

  if (n < 6 || !lower(s[0]) || !lower(s[1]) || s[n - 2] != '-' || !digit(s[n - 1]))
    return false;
  while (i < n - 2) {
    size_t start;
    if (s[i] != '-')
      return false;
    start = ++i;
    while (i < n - 2 && lower(s[i]))
      i++;
    if (i == start)
      return false;
    if (++segs == 1) {
      first = start;
      first_len = i - start;
    }
  }
  if (segs == 1)
    return true;
  if (segs != 2)
    return false;
  if (first_len == 3 && memcmp(s + first, "gov", 3) == 0)
    return true;
  return (first_len == 3 || first_len == 4) && memcmp(s + first, "iso", 3) == 0;
}

static bool qualifier_part_valid(const char *s, size_t n)
{
  if (n == 7 && memcmp(s, "$LATEST", 7) == 0)
    return true;
  if (n == 17 && memcmp(s, "$LATEST.PUBLISHED", 17) == 0)
    return true;
  return n <= ARN_MAX_QUALIFIER && all_of(s, n, qualifier_char);
}

bool arn_qualifier_valid(const char *q)
{
  size_t n = strlen(q), i;

  if (n == 0 || n > ARN_MAX_QUALIFIER)
    return false;
  /* the Qualifier member's pattern is (|[a-zA-Z0-9$_-]+): '$' anywhere, never '.' */
  for (i = 0; i < n; i++)
    if (!qualifier_char(q[i]) && q[i] != '$')
      return false;
  return true;
}

static void copy_part(char *dst, size_t cap, const char *s, size_t n)
{
  if (n >= cap)
    n = cap - 1;
  memcpy(dst, s, n);
  dst[n] = '\0';
}

bool arn_parse_function(const char *input, struct function_ref *ref)
{
  const char *parts[ARN_MAX_PARTS];
  size_t lens[ARN_MAX_PARTS], n = 0, i = 0;
  const char *p = input;
  size_t total = strlen(input);

  memset(ref, 0, sizeof(*ref));
  if (total == 0 || total > ARN_MAX_FUNCTION_NAME_INPUT)
    return false;
  for (;;) {
    const char *c = strchr(p, ':');
    size_t len = c ? (size_t)(c - p) : strlen(p);
    if (n == ARN_MAX_PARTS)
      return false;
    parts[n] = p;
    lens[n++] = len;
    if (!c)
      break;
    p = c + 1;
  }
  /* "arn" and "arn:q" are the plain name "arn" (with a qualifier): the pattern's ARN prefix is
   * optional, so only three or more parts can be an ARN (found by tests/fuzz). */
  if (n > 2 && lens[0] == 3 && memcmp(parts[0], "arn", 3) == 0) {
    /* arn:aws[a-zA-Z-]*:lambda:region:account:function:name[:qualifier] */
    if (n < 7 || n > 8 || lens[1] < 3 || memcmp(parts[1], "aws", 3) != 0 ||
        lens[2] != 6 || memcmp(parts[2], "lambda", 6) != 0 || !region_valid(parts[3], lens[3]) ||
        lens[4] != 12 || !all_of(parts[4], 12, digit) || lens[5] != 8 ||
        memcmp(parts[5], "function", 8) != 0)
      return false;
    for (i = 3; i < lens[1]; i++)
      if (!(is_alnum(parts[1][i]) || parts[1][i] == '-'))
        return false;
    copy_part(ref->region, sizeof(ref->region), parts[3], lens[3]);
    copy_part(ref->account, sizeof(ref->account), parts[4], lens[4]);
    i = 6;
  } else if (n >= 3 && lens[0] == 12 && all_of(parts[0], 12, digit) && lens[1] == 8 &&
             memcmp(parts[1], "function", 8) == 0) {
    if (n > 4)
      return false;
    copy_part(ref->account, sizeof(ref->account), parts[0], lens[0]);
    i = 2;
  } else {
    if (n > 2)
      return false;
    i = 0;
  }
  if (lens[i] > ARN_MAX_NAME || !all_of(parts[i], lens[i], name_char))
    return false;
  copy_part(ref->name, sizeof(ref->name), parts[i], lens[i]);
  if (i + 1 < n) {
    if (!qualifier_part_valid(parts[i + 1], lens[i + 1]))
      return false;
    copy_part(ref->qualifier, sizeof(ref->qualifier), parts[i + 1], lens[i + 1]);
  }
  return true;
}
