/* Allocation-free JSON validation with Jackson-style error messages (see json_check.h). It walks
 * the bytes once with an explicit container stack (no recursion, so deep nesting cannot blow the C
 * stack) and tracks line and column the way Jackson reports them: the position after the byte that
 * failed. Like Jackson's default ObjectMapper, content after the first complete value is ignored. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lemu/json_check.h"
#include "lemu/util.h"

#define JSON_SOURCE_SNIPPET 500

struct jc {
  const unsigned char *p;
  size_t len, i;
  size_t line, line_start;
  char *detail;
  const char *err;     /* static message, or NULL when detail was formatted */
  char stack[JSON_CHECK_MAX_DEPTH + 1];
  size_t depth;
  size_t open_at[JSON_CHECK_MAX_DEPTH + 1]; /* offset of each open marker, for EOF messages */
};

static void jc_fail(struct jc *c, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void jc_position(const struct jc *c, size_t at, size_t *line, size_t *col)
{
  size_t i, l = 1, ls = 0;

  for (i = 0; i < at && i < c->len; i++)
    if (c->p[i] == '\n') {
      l++;
      ls = i + 1;
    }
  *line = l;
  *col = at - ls + 1;
}

static char *jc_source(const struct jc *c)
{
  size_t n = c->len < JSON_SOURCE_SNIPPET ? c->len : JSON_SOURCE_SNIPPET;

  if (c->len > JSON_SOURCE_SNIPPET)
    return util_asprintf("(byte[])\"%.*s\"[truncated %zu bytes]", (int)n, (const char *)c->p,
                         c->len - JSON_SOURCE_SNIPPET);
  return util_asprintf("(byte[])\"%.*s\"", (int)n, (const char *)c->p);
}

static void jc_fail(struct jc *c, size_t at, const char *fmt, ...)
{
  char *msg = NULL, *src;
  size_t line, col;
  va_list ap;

  if (c->detail)
    return;
  va_start(ap, fmt);
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  va_end(ap);
  src = jc_source(c);
  jc_position(c, at, &line, &col);
  c->detail = util_asprintf("%s\n at [Source: %s; line: %zu, column: %zu]", msg ? msg : "",
                            src ? src : "", line, col);
  free(msg);
  free(src);
}

static void jc_unexpected(struct jc *c, size_t at, const char *expected)
{
  unsigned char ch = c->p[at];

  if (ch >= 0x20 && ch < 0x7f)
    jc_fail(c, at + 1, "Unexpected character ('%c' (code %u)): %s", ch, ch, expected);
  else
    jc_fail(c, at + 1, "Unexpected character ((CTRL-CHAR, code %u)): %s", ch, expected);
}

static const char expect_value[] =
  "expected a valid value (JSON String, Number, Array, Object or token 'null', 'true' or 'false')";

static void skip_ws(struct jc *c)
{
  while (c->i < c->len) {
    unsigned char ch = c->p[c->i];
    if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r')
      break;
    c->i++;
  }
}

static int is_token_char(unsigned char ch)
{
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         ch == '_' || ch == '$' || ch >= 0x80;
}

static void jc_eof(struct jc *c, const char *what)
{
  if (c->depth > 0) {
    size_t line, col;
    char *src = jc_source(c);
    jc_position(c, c->open_at[c->depth - 1], &line, &col);
    jc_fail(c, c->len, "Unexpected end-of-input: expected close marker for %s (start marker at "
            "[Source: %s; line: %zu, column: %zu])",
            c->stack[c->depth - 1] == '{' ? "Object" : "Array", src ? src : "", line, col);
    free(src);
  } else {
    jc_fail(c, c->len, "Unexpected end-of-input %s", what);
  }
}

/* A literal or an unquoted word starting at c->i. */
static void scan_word(struct jc *c)
{
  static const char *const literals[] = {"true", "false", "null"};
  size_t start = c->i, end = c->i, k;

  while (end < c->len && is_token_char(c->p[end]))
    end++;
  for (k = 0; k < 3; k++) {
    size_t n = strlen(literals[k]);
    if (end - start == n && memcmp(c->p + start, literals[k], n) == 0) {
      c->i = end;
      return;
    }
  }
  jc_fail(c, end, "Unrecognized token '%.*s': was expecting ('true', 'false' or 'null')",
          (int)(end - start), (const char *)c->p + start);
}

static int hexval(unsigned char ch)
{
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

static void scan_string(struct jc *c)
{
  c->i++; /* opening quote */
  while (c->i < c->len) {
    unsigned char ch = c->p[c->i];
    if (ch == '"') {
      c->i++;
      return;
    }
    if (ch == '\\') {
      unsigned char e;
      if (c->i + 1 >= c->len)
        break;
      e = c->p[c->i + 1];
      if (e == 'u') {
        int k;
        for (k = 0; k < 4; k++) {
          if (c->i + 2 + (size_t)k >= c->len) {
            jc_fail(c, c->len, "Unexpected end-of-input in character escape sequence");
            return;
          }
          if (hexval(c->p[c->i + 2 + (size_t)k]) < 0) {
            jc_fail(c, c->i + 3 + (size_t)k, "Unexpected character ('%c' (code %u)): expected a "
                    "hex-digit for character escape sequence", c->p[c->i + 2 + k], c->p[c->i + 2 + k]);
            return;
          }
        }
        c->i += 6;
        continue;
      }
      if (!strchr("\"\\/bfnrt", e) || e == 0) {
        jc_fail(c, c->i + 2, "Unrecognized character escape '%c' (code %u)", e, e);
        return;
      }
      c->i += 2;
      continue;
    }
    if (ch < 0x20) {
      jc_fail(c, c->i + 1, "Illegal unquoted character ((CTRL-CHAR, code %u)): has to be escaped "
              "using backslash to be included in string value", ch);
      return;
    }
    if (ch >= 0x80) { /* UTF-8 sequence */
      size_t need, k;
      if (ch >= 0xc2 && ch <= 0xdf)
        need = 1;
      else if (ch >= 0xe0 && ch <= 0xef)
        need = 2;
      else if (ch >= 0xf0 && ch <= 0xf4)
        need = 3;
      else {
        jc_fail(c, c->i + 1, "Invalid UTF-8 start byte 0x%x", ch);
        return;
      }
      for (k = 1; k <= need; k++) {
        if (c->i + k >= c->len)
          break;
        if ((c->p[c->i + k] & 0xc0) != 0x80) {
          jc_fail(c, c->i + k + 1, "Invalid UTF-8 middle byte 0x%x", c->p[c->i + k]);
          return;
        }
      }
      c->i += need + 1;
      continue;
    }
    c->i++;
  }
  jc_fail(c, c->len, "Unexpected end-of-input: was expecting closing quote for a string value");
}

static void scan_number(struct jc *c)
{
  size_t i = c->i;

  if (c->p[i] == '-')
    i++;
  if (i >= c->len) {
    jc_fail(c, i, "Unexpected end-of-input in numeric value");
    return;
  }
  if (c->p[i] == '0') {
    i++;
    if (i < c->len && c->p[i] >= '0' && c->p[i] <= '9') {
      jc_fail(c, i + 1, "Invalid numeric value: Leading zeroes not allowed");
      return;
    }
  } else if (c->p[i] >= '1' && c->p[i] <= '9') {
    while (i < c->len && c->p[i] >= '0' && c->p[i] <= '9')
      i++;
  } else {
    jc_fail(c, i + 1, "Unexpected character ('%c' (code %u)) in numeric value: expected digit (0-9) "
            "to follow minus sign, for valid numeric value", c->p[i], c->p[i]);
    return;
  }
  if (i < c->len && c->p[i] == '.') {
    i++;
    if (i >= c->len || c->p[i] < '0' || c->p[i] > '9') {
      if (i >= c->len)
        jc_fail(c, i, "Unexpected end-of-input in numeric value");
      else
        jc_fail(c, i + 1, "Unexpected character ('%c' (code %u)) in numeric value: Decimal point "
                "not followed by a digit", c->p[i], c->p[i]);
      return;
    }
    while (i < c->len && c->p[i] >= '0' && c->p[i] <= '9')
      i++;
  }
  if (i < c->len && (c->p[i] == 'e' || c->p[i] == 'E')) {
    i++;
    if (i < c->len && (c->p[i] == '+' || c->p[i] == '-'))
      i++;
    if (i >= c->len || c->p[i] < '0' || c->p[i] > '9') {
      if (i >= c->len)
        jc_fail(c, i, "Unexpected end-of-input in numeric value");
      else
        jc_fail(c, i + 1, "Unexpected character ('%c' (code %u)) in numeric value: Exponent "
                "indicator not followed by a digit", c->p[i], c->p[i]);
      return;
    }
    while (i < c->len && c->p[i] >= '0' && c->p[i] <= '9')
      i++;
  }
  c->i = i;
}

/* Parse one value at c->i; containers push onto the stack and the main loop continues them. */
static void scan_value(struct jc *c)
{
  unsigned char ch;

  skip_ws(c);
  if (c->i >= c->len) {
    jc_eof(c, "expected a value");
    return;
  }
  ch = c->p[c->i];
  if (ch == '{' || ch == '[') {
    if (c->depth >= JSON_CHECK_MAX_DEPTH) {
      jc_fail(c, c->i + 1, "Document nesting depth (%d) exceeds the maximum allowed (%d, from "
              "`StreamReadConstraints.getMaxNestingDepth()`)", JSON_CHECK_MAX_DEPTH + 1,
              JSON_CHECK_MAX_DEPTH);
      return;
    }
    c->open_at[c->depth] = c->i;
    c->stack[c->depth++] = (char)ch;
    c->i++;
    return;
  }
  if (ch == '"')
    scan_string(c);
  else if (ch == '-' || (ch >= '0' && ch <= '9'))
    scan_number(c);
  else if (is_token_char(ch))
    scan_word(c);
  else
    jc_unexpected(c, c->i, expect_value);
}

bool json_check(const char *p, size_t len, char **detail)
{
  struct jc *c = calloc(1, sizeof(*c));
  bool ok;
  /* state per container: after '{' or '[' we expect a first element or the close marker */
  enum { AFTER_OPEN, AFTER_VALUE } state;

  if (detail)
    *detail = NULL;
  if (!c)
    return false;
  c->p = (const unsigned char *)p;
  c->len = len;
  skip_ws(c);
  if (c->i >= c->len) {
    free(c);
    return true; /* empty payload: no event */
  }
  scan_value(c);
  state = AFTER_OPEN;
  while (!c->detail && c->depth > 0) {
    char top = c->stack[c->depth - 1];
    char close = top == '{' ? '}' : ']';
    skip_ws(c);
    if (c->i >= c->len) {
      jc_eof(c, "");
      break;
    }
    if (c->p[c->i] == close && (state == AFTER_VALUE || state == AFTER_OPEN)) {
      c->depth--;
      c->i++;
      state = AFTER_VALUE;
      continue;
    }
    if (state == AFTER_VALUE) {
      if (c->p[c->i] != ',') {
        jc_unexpected(c, c->i, top == '{' ? "was expecting comma to separate Object entries"
                                          : "was expecting comma to separate Array entries");
        break;
      }
      c->i++;
      skip_ws(c);
    }
    if (top == '{') {
      if (c->i >= c->len) {
        jc_eof(c, "");
        break;
      }
      if (c->p[c->i] != '"') {
        jc_unexpected(c, c->i, "was expecting double-quote to start field name");
        break;
      }
      scan_string(c);
      if (c->detail)
        break;
      skip_ws(c);
      if (c->i >= c->len) {
        jc_eof(c, "");
        break;
      }
      if (c->p[c->i] != ':') {
        jc_unexpected(c, c->i, "was expecting a colon to separate field name and value");
        break;
      }
      c->i++;
    }
    {
      size_t before = c->depth;
      scan_value(c);
      state = c->depth > before ? AFTER_OPEN : AFTER_VALUE;
    }
  }
  ok = c->detail == NULL;
  if (detail)
    *detail = c->detail;
  else
    free(c->detail);
  free(c);
  return ok;
}
