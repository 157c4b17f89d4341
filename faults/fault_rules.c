/* The fault engine (see include/lemu/fault_rules.h). Rules are kept in insertion order; for an
 * invocation every rule that targets the function advances its own counter and PRNG, and the first
 * that decides to fire (with Times left) wins, so adding a rule never changes what an earlier rule
 * decides. Match conditions are evaluated on the parsed event only when a rule has them. */
#include <cjson/cJSON.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lemu/aws_errors.h"
#include "lemu/fault_catalog.h"
#include "lemu/fault_rules.h"
#include "lemu/util.h"

#define FAULT_MAX_NTH 1024
#define FAULT_MAX_MATCH 16
#define FIS_PREFIX "aws:lambda:"
/* Bounds checked before any double is converted to an integer (a conversion out of range is
 * undefined behaviour; tests/fuzz found rules such as {"Times": 1e300}). */
#define FAULT_MAX_COUNT 1e15              /* Nth, Every, Times */
#define FAULT_MAX_SEED 9007199254740992.0 /* 2^53: every integer below is exact in JSON */
#define FAULT_MAX_MS (24.0 * 3600.0 * 1000.0)  /* Params.Ms: a day of added latency */
#define FAULT_MAX_SECONDS (366.0 * 24.0 * 3600.0) /* Params.Seconds: a year */
#define FAULT_MAX_REGEX_LEN 1024       /* Match.Regex characters */
#define FAULT_MAX_REGEX_NODES 100000.0 /* Match.Regex after expansion (regex_bounded) */

enum fault_when { WHEN_ALWAYS, WHEN_NTH, WHEN_EVERY, WHEN_PROBABILITY };
enum match_op { MATCH_EQ, MATCH_EXISTS, MATCH_STARTS_WITH, MATCH_REGEX };

struct fault_match {
  char *path;          /* "$.a.b[0]" */
  bool client_context; /* evaluated on the client context instead of the event */
  enum match_op op;
  cJSON *value;        /* for eq: any JSON value; for startsWith/regex: a string */
  regex_t re;
  bool re_ok;
};

struct fn_count {
  char *function;
  unsigned long count;
};

struct fault_rule {
  char id[16];
  char *function;              /* name or "*" */
  const struct fault_kind *kind;
  cJSON *json;                 /* the rule as given (for listing) */
  cJSON *params;               /* borrowed from json */
  enum fault_when when;
  unsigned long *nth;
  size_t n_nth;
  unsigned long every;
  double probability;
  uint64_t rng;                /* splitmix64 state, seeded from Seed */
  long times;                  /* -1 = unlimited */
  unsigned long fired;
  uint64_t expires_ms;         /* 0 = never */
  uint64_t created_ms;
  struct fault_match match[FAULT_MAX_MATCH];
  size_t n_match;
  struct fn_count *counts;     /* invocations seen, per function */
  size_t n_counts;
  struct fault_rule *next;
};

struct fault_engine {
  struct fault_rule *rules;
  unsigned next_id;
  fault_fired_fn on_fired;     /* observer of firings (metrics), or NULL */
  void *on_fired_cls;
};

struct fault_engine *fault_engine_create(void)
{
  return calloc(1, sizeof(struct fault_engine));
}

static void rule_free(struct fault_rule *r)
{
  size_t i;

  if (!r)
    return;
  for (i = 0; i < r->n_match; i++) {
    free(r->match[i].path);
    cJSON_Delete(r->match[i].value);
    if (r->match[i].re_ok)
      regfree(&r->match[i].re);
  }
  for (i = 0; i < r->n_counts; i++)
    free(r->counts[i].function);
  free(r->counts);
  free(r->nth);
  free(r->function);
  cJSON_Delete(r->json);
  free(r);
}

void fault_engine_clear(struct fault_engine *e)
{
  while (e->rules) {
    struct fault_rule *r = e->rules;
    e->rules = r->next;
    rule_free(r);
  }
}

void fault_engine_destroy(struct fault_engine *e)
{
  if (!e)
    return;
  fault_engine_clear(e);
  free(e);
}

static uint64_t splitmix64(uint64_t *s)
{
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* [0, 1) from the rule's stream. */
static double rule_draw(struct fault_rule *r)
{
  return (double)(splitmix64(&r->rng) >> 11) / 9007199254740992.0;
}

/* v is a JSON number holding a whole number from lo to hi (range first, then the conversion). */
static bool whole_in(const cJSON *v, double lo, double hi)
{
  return cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi &&
         v->valuedouble == (double)(long long)v->valuedouble;
}

/* glibc's regcomp copies a subexpression once per '+' and per bound of {m,n}, so stacked or
 * nested repetitions cost memory exponentially (tests/fuzz: "(b|c)+++..." took 2.4 GB), a
 * repetition of something that can match the empty string makes its epsilon closures explode
 * (tests/fuzz: "x?+++++++++++++" took 38 s to compile, "((((x?)+)+)+)+)+" 10 s), and
 * back-references make regexec exponential in time. This walks the expression the way the
 * compiler expands it -- an atom counts 1, a group the sum of its contents, a repetition
 * multiplies its atom by the copies it makes -- and refuses a Match.Regex above
 * FAULT_MAX_REGEX_NODES, with a back-reference, or with any repetition ('*', '+', '?', {m,n})
 * of something that can match the empty string ("x?+", "(a*)+", "(a|)*": POSIX leaves stacked
 * repetitions undefined, and each has a plain equivalent such as "x*"). Sets *nullable_repeat
 * when that last rule is what refused it. */
struct regex_scan_level {
  double sum;          /* nodes before this group */
  bool seq_nullable;   /* the enclosing branch so far can match empty */
  bool alt_nullable;   /* an earlier branch of the enclosing group can match empty */
};

static bool regex_bounded(const char *re, bool *nullable_repeat)
{
  struct regex_scan_level stack[FAULT_MAX_REGEX_LEN];
  double sum = 0, last = 0;
  size_t depth = 0;
  const char *p;
  /* Nullability: of the current branch so far, of any earlier branch of the current group, of
   * the last atom (what a repetition applies to), and of the branch before that atom. */
  bool seq_nullable = true, alt_nullable = false, last_nullable = false, before_last = true;
  bool have_atom = false;

  *nullable_repeat = false;
  if (strlen(re) > FAULT_MAX_REGEX_LEN)
    return false;
  for (p = re; *p; p++) {
    double copies = 0;
    bool atom = false, atom_nullable = false, repeat = false, may_be_empty = false;

    if (*p == '\\') {
      if (p[1] >= '1' && p[1] <= '9')
        return false; /* a back-reference */
      if (p[1])
        p++;
      atom = true;
    } else if (*p == '[') { /* a bracket expression is one atom: skip to its closing ']' */
      p++;
      if (*p == '^')
        p++;
      if (*p == ']')
        p++;
      while (*p && *p != ']') {
        if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) { /* [:alpha:] and kin */
          size_t n = strcspn(p + 2, "]");
          p += 2 + n + (p[2 + n] ? 1 : 0);
        } else {
          p++;
        }
      }
      if (!*p)
        break;
      atom = true;
    } else if (*p == '(') {
      stack[depth].sum = sum;
      stack[depth].seq_nullable = seq_nullable;
      stack[depth].alt_nullable = alt_nullable;
      depth++;
      sum = last = 0;
      seq_nullable = true;
      alt_nullable = false;
      have_atom = false;
    } else if (*p == ')' && depth > 0) {
      bool group_nullable = seq_nullable || alt_nullable;
      depth--;
      last = sum + 1;
      sum = stack[depth].sum + last;
      alt_nullable = stack[depth].alt_nullable;
      before_last = stack[depth].seq_nullable;
      seq_nullable = before_last && group_nullable;
      last_nullable = group_nullable;
      have_atom = true;
    } else if (*p == '|') {
      alt_nullable = alt_nullable || seq_nullable;
      seq_nullable = true;
      last = 0;
      have_atom = false;
    } else if (*p == '+' || *p == '*' || *p == '?') {
      repeat = true;
      copies = *p == '+' ? 2 : 0;
      may_be_empty = *p != '+';
    } else if (*p == '{' && p[1] >= '0' && p[1] <= '9') {
      char *end;
      unsigned long m = strtoul(p + 1, &end, 10), n = m;
      if (*end == ',')
        n = end[1] >= '0' && end[1] <= '9' ? strtoul(end + 1, &end, 10) : (end++, m + 1);
      copies = (double)(n > m ? n : m) + 1;
      p = *end == '}' ? end : p;
      repeat = true;
      may_be_empty = m == 0; /* {0,n} can match empty, as '*' and '?' do */
    } else {
      atom = true;
      atom_nullable = *p == '^' || *p == '$'; /* anchors match the empty string */
    }
    if (atom) {
      last = 1;
      sum += 1;
      before_last = seq_nullable;
      seq_nullable = seq_nullable && atom_nullable;
      last_nullable = atom_nullable;
      have_atom = true;
    }
    if (repeat && have_atom) {
      if (last_nullable) {
        *nullable_repeat = true;
        return false;
      }
      if (may_be_empty) { /* x*, x?, x{0,n} match empty: nothing may repeat them again */
        last_nullable = true;
        seq_nullable = before_last;
      }
    }
    if (copies > 0) {
      sum += last * (copies - 1);
      last *= copies;
    }
    if (sum > FAULT_MAX_REGEX_NODES)
      return false;
  }
  while (depth > 0)
    sum += stack[--depth].sum;
  return sum <= FAULT_MAX_REGEX_NODES;
}

static bool fail(char **message, const char *fmt, const char *field)
{
  *message = util_asprintf(fmt, field);
  return false;
}

static bool parse_condition(struct fault_rule *r, const cJSON *it, char **message)
{
  struct fault_match *fm;
  const cJSON *path = cJSON_GetObjectItemCaseSensitive(it, "Path");
  const cJSON *src = cJSON_GetObjectItemCaseSensitive(it, "Source");
  const cJSON *eq = cJSON_GetObjectItemCaseSensitive(it, "Eq");
  const cJSON *ex = cJSON_GetObjectItemCaseSensitive(it, "Exists");
  const cJSON *sw = cJSON_GetObjectItemCaseSensitive(it, "StartsWith");
  const cJSON *rx = cJSON_GetObjectItemCaseSensitive(it, "Regex");
  int ops = !!eq + !!ex + !!sw + !!rx;

  if (r->n_match == FAULT_MAX_MATCH)
    return fail(message, "%s: at most 16 conditions", "Match");
  if (!cJSON_IsObject(it) || !cJSON_IsString(path))
    return fail(message, "%s: expected a JSON path string such as \"$.user.id\"", "Match[].Path");
  if (ops != 1)
    return fail(message, "%s: expected exactly one of Eq, Exists, StartsWith, Regex", "Match[]");
  if (src && (!cJSON_IsString(src) || (strcmp(src->valuestring, "Event") &&
                                       strcmp(src->valuestring, "ClientContext"))))
    return fail(message, "%s: expected \"Event\" or \"ClientContext\"", "Match[].Source");
  fm = &r->match[r->n_match++];
  memset(fm, 0, sizeof(*fm));
  fm->path = util_strdup(path->valuestring);
  fm->client_context = src && !strcmp(src->valuestring, "ClientContext");
  if (eq) {
    fm->op = MATCH_EQ;
    fm->value = cJSON_Duplicate(eq, true);
  } else if (ex) {
    if (!cJSON_IsBool(ex))
      return fail(message, "%s: expected true or false", "Match[].Exists");
    fm->op = MATCH_EXISTS;
    fm->value = cJSON_Duplicate(ex, true);
  } else {
    const cJSON *s = sw ? sw : rx;
    if (!cJSON_IsString(s))
      return fail(message, "%s: expected a string", sw ? "Match[].StartsWith" : "Match[].Regex");
    fm->op = sw ? MATCH_STARTS_WITH : MATCH_REGEX;
    fm->value = cJSON_Duplicate(s, true);
    if (rx) {
      bool nullable_repeat;
      if (!regex_bounded(s->valuestring, &nullable_repeat))
        return fail(message, nullable_repeat
                    ? "%s: too costly: a repetition of something that can match the empty string "
                      "(\"x?+\", \"(a*)+\", \"(a|)*\"; write \"x*\" or \"(a|b)*\" instead)"
                    : "%s: too costly: at most 1024 characters, no back-references, and "
                      "repetitions that copy at most 100000 nodes (\"(a|b)++++\" doubles per +)",
                    "Match[].Regex");
      if (regcomp(&fm->re, s->valuestring, REG_EXTENDED | REG_NOSUB) != 0)
        return fail(message, "%s: not a valid POSIX extended regular expression", "Match[].Regex");
      fm->re_ok = true;
    }
  }
  return fm->path && fm->value ? true : fail(message, "%s: out of memory", "Match");
}

/* Match: one condition object, or an array of them (all must hold). */
static bool parse_match(struct fault_rule *r, const cJSON *m, char **message)
{
  const cJSON *it;

  if (cJSON_IsObject(m))
    return parse_condition(r, m, message);
  if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 0)
    return fail(message, "%s: expected at least one condition", "Match");
  if (!cJSON_IsArray(m))
    return fail(message, "%s: expected a condition or an array of conditions such as "
                "[{\"Path\": \"$.user.id\", \"StartsWith\": \"test-\"}]", "Match");
  cJSON_ArrayForEach(it, m)
    if (!parse_condition(r, it, message))
      return false;
  return true;
}

static bool parse_when(struct fault_rule *r, const cJSON *w, char **message)
{
  const cJSON *v;

  if (!w) {
    r->when = WHEN_ALWAYS;
    return true;
  }
  if (!cJSON_IsObject(w) || cJSON_GetArraySize(w) < 1)
    return fail(message, "%s: expected one of {\"Nth\": [2, 5]}, {\"Every\": 3}, "
                "{\"Probability\": 0.25, \"Seed\": 7}, {\"Always\": true}", "When");
  {
    static const char *const keys[] = {"Nth", "Every", "Probability", "Seed", "Always", NULL};
    const cJSON *it;
    int kinds = 0;
    cJSON_ArrayForEach(it, w) {
      size_t k;
      bool known = false;
      for (k = 0; keys[k]; k++)
        known |= !strcmp(it->string, keys[k]);
      if (!known) {
        *message = util_asprintf("When.%s: unknown field (expected Nth, Every, Probability with Seed, "
                                 "or Always)", it->string);
        return false;
      }
      kinds += strcmp(it->string, "Seed") != 0;
    }
    if (kinds != 1)
      return fail(message, "%s: expected exactly one of Nth, Every, Probability, Always", "When");
    if (cJSON_GetObjectItemCaseSensitive(w, "Seed") && !cJSON_GetObjectItemCaseSensitive(w, "Probability"))
      return fail(message, "%s: only goes with Probability", "When.Seed");
  }
  if ((v = cJSON_GetObjectItemCaseSensitive(w, "Always")) != NULL) {
    if (!cJSON_IsTrue(v))
      return fail(message, "%s: expected true", "When.Always");
    r->when = WHEN_ALWAYS;
  } else if ((v = cJSON_GetObjectItemCaseSensitive(w, "Nth")) != NULL) {
    const cJSON *it;
    int n = cJSON_GetArraySize(v);
    if (!cJSON_IsArray(v) || n < 1 || n > FAULT_MAX_NTH)
      return fail(message, "%s: expected a non-empty list of invocation numbers (1-based)", "When.Nth");
    r->nth = calloc((size_t)n, sizeof(*r->nth));
    if (!r->nth)
      return fail(message, "%s: out of memory", "When.Nth");
    cJSON_ArrayForEach(it, v) {
      if (!whole_in(it, 1, FAULT_MAX_COUNT))
        return fail(message, "%s: expected positive integers", "When.Nth");
      r->nth[r->n_nth++] = (unsigned long)it->valuedouble;
    }
    r->when = WHEN_NTH;
  } else if ((v = cJSON_GetObjectItemCaseSensitive(w, "Every")) != NULL) {
    if (!whole_in(v, 1, FAULT_MAX_COUNT))
      return fail(message, "%s: expected a positive integer", "When.Every");
    r->every = (unsigned long)v->valuedouble;
    r->when = WHEN_EVERY;
  } else if ((v = cJSON_GetObjectItemCaseSensitive(w, "Probability")) != NULL) {
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(w, "Seed");
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1)
      return fail(message, "%s: expected a number from 0 to 1", "When.Probability");
    if (seed && !whole_in(seed, 0, FAULT_MAX_SEED))
      return fail(message, "%s: expected a non-negative integer", "When.Seed");
    r->probability = v->valuedouble;
    r->rng = seed ? (uint64_t)seed->valuedouble : 0;
    r->when = WHEN_PROBABILITY;
  } else {
    return fail(message, "%s: expected Nth, Every, Probability (with Seed) or Always", "When");
  }
  return true;
}

/* Parse into a new rule (not linked). */
static struct fault_rule *rule_parse(const cJSON *in, uint64_t now_ms, char **message)
{
  static const char *const keys[] = {"Function", "Fault", "When", "Times", "Params", "Match", NULL};
  struct fault_rule *r = calloc(1, sizeof(*r));
  const cJSON *v, *it;
  bool ok = false;

  *message = NULL;
  if (!r)
    return NULL;
  r->times = -1;
  r->created_ms = now_ms;
  if (!cJSON_IsObject(in)) {
    fail(message, "%s: expected a JSON object", "rule");
    goto out;
  }
  cJSON_ArrayForEach(it, in) {
    size_t k;
    bool known = false;
    for (k = 0; keys[k]; k++)
      known |= !strcmp(it->string, keys[k]);
    if (!known) {
      *message = util_asprintf("%s: unknown field (expected Function, Fault, When, Times, Params, Match)",
                               it->string);
      goto out;
    }
  }
  v = cJSON_GetObjectItemCaseSensitive(in, "Function");
  if (!cJSON_IsString(v) || !v->valuestring[0]) {
    fail(message, "%s: expected a function name or \"*\"", "Function");
    goto out;
  }
  r->function = util_strdup(v->valuestring);
  v = cJSON_GetObjectItemCaseSensitive(in, "Fault");
  r->kind = cJSON_IsString(v) ? fault_kind_find(v->valuestring) : NULL;
  if (!r->kind) {
    fail(message, "%s: expected a fault kind (see docs/faults.md), e.g. \"throttle\", \"timeout\"", "Fault");
    goto out;
  }
  if (!parse_when(r, cJSON_GetObjectItemCaseSensitive(in, "When"), message))
    goto out;
  v = cJSON_GetObjectItemCaseSensitive(in, "Times");
  if (v) {
    if (!whole_in(v, 1, FAULT_MAX_COUNT)) {
      fail(message, "%s: expected a positive integer", "Times");
      goto out;
    }
    r->times = (long)v->valuedouble;
  }
  v = cJSON_GetObjectItemCaseSensitive(in, "Params");
  if (v && !cJSON_IsObject(v)) {
    fail(message, "%s: expected an object", "Params");
    goto out;
  }
  if (v) {
    const cJSON *p;
    if ((p = cJSON_GetObjectItemCaseSensitive(v, "Ms")) &&
        (!cJSON_IsNumber(p) || !(p->valuedouble >= 0 && p->valuedouble <= FAULT_MAX_MS))) { /* NaN too */
      fail(message, "%s: expected a non-negative number of milliseconds", "Params.Ms");
      goto out;
    }
    if ((p = cJSON_GetObjectItemCaseSensitive(v, "Seconds")) &&
        (!cJSON_IsNumber(p) || !(p->valuedouble > 0 && p->valuedouble <= FAULT_MAX_SECONDS))) {
      fail(message, "%s: expected a positive number of seconds", "Params.Seconds");
      goto out;
    }
    if ((p = cJSON_GetObjectItemCaseSensitive(v, "Reason")) != NULL) {
      static const char *const reasons[] = AWS_THROTTLE_REASONS;
      size_t k;
      bool known = false;
      for (k = 0; cJSON_IsString(p) && reasons[k]; k++)
        known |= !strcmp(p->valuestring, reasons[k]);
      if (!known) {
        fail(message, "%s: expected a TooManyRequestsException Reason such as "
             "ReservedFunctionConcurrentInvocationLimitExceeded", "Params.Reason");
        goto out;
      }
    }
    {
      static const char *const strings[] = {"ErrorType", "ErrorMessage", "AccessPointArn", "ContentType",
                                            "Principal", NULL};
      size_t k;
      for (k = 0; strings[k]; k++)
        if ((p = cJSON_GetObjectItemCaseSensitive(v, strings[k])) && !cJSON_IsString(p)) {
          *message = util_asprintf("Params.%s: expected a string", strings[k]);
          goto out;
        }
      if ((p = cJSON_GetObjectItemCaseSensitive(v, "StatusCode")) && !cJSON_IsNumber(p) && !cJSON_IsString(p)) {
        fail(message, "%s: expected an HTTP status code", "Params.StatusCode");
        goto out;
      }
    }
    {
      static const char *const known_params[] = {"Ms", "Seconds", "Reason", "ErrorType", "ErrorMessage",
                                                 "AccessPointArn", "StatusCode", "ContentType", "Variant",
                                                 "Principal", NULL};
      const cJSON *it2;
      cJSON_ArrayForEach(it2, v) {
        size_t k;
        bool ok2 = false;
        for (k = 0; known_params[k]; k++)
          ok2 |= !strcmp(it2->string, known_params[k]);
        if (!ok2) {
          *message = util_asprintf("Params.%s: unknown parameter (expected Ms, Seconds, Reason, ErrorType, "
                                   "ErrorMessage, AccessPointArn, StatusCode, ContentType, Variant, Principal)",
                                   it2->string);
          goto out;
        }
      }
    }
    if (r->kind->action == FAULT_PROXY && (p = cJSON_GetObjectItemCaseSensitive(v, "Variant")) &&
        (!cJSON_IsString(p) || !fault_catalog_proxy_variant_known(p->valuestring))) {
      fail(message, "%s: expected \"" FAULT_PROXY_BODY_NOT_STRING "\", \"" FAULT_PROXY_NONE "\" or \""
           FAULT_PROXY_MISSING_STATUS_CODE "\"", "Params.Variant");
      goto out;
    }
  }
  v = cJSON_GetObjectItemCaseSensitive(in, "Match");
  if (v && !parse_match(r, v, message))
    goto out;
  r->json = cJSON_Duplicate(in, true);
  r->params = r->json ? cJSON_GetObjectItemCaseSensitive(r->json, "Params") : NULL;
  if (r->kind->action == FAULT_PENDING && r->params) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(r->params, "Seconds");
    if (s)
      r->expires_ms = now_ms + (uint64_t)(s->valuedouble * 1000.0);
  }
  ok = r->json != NULL;
out:
  if (!ok) {
    if (!*message)
      *message = util_strdup("rule: out of memory");
    rule_free(r);
    return NULL;
  }
  return r;
}

static void rule_link(struct fault_engine *e, struct fault_rule *r)
{
  struct fault_rule **p = &e->rules;

  snprintf(r->id, sizeof(r->id), "f-%u", ++e->next_id);
  while (*p)
    p = &(*p)->next;
  *p = r;
}

lemu_err_t fault_engine_add(struct fault_engine *e, const cJSON *rule, uint64_t now_ms, char **id,
                            char **message)
{
  struct fault_rule *r = rule_parse(rule, now_ms, message);

  *id = NULL;
  if (!r)
    return LEMU_ERR_INVAL;
  rule_link(e, r);
  *id = util_strdup(r->id);
  return LEMU_ERR_OK;
}

bool fault_engine_remove(struct fault_engine *e, const char *id)
{
  struct fault_rule **p;

  for (p = &e->rules; *p; p = &(*p)->next)
    if (!strcmp((*p)->id, id)) {
      struct fault_rule *r = *p;
      *p = r->next;
      rule_free(r);
      return true;
    }
  return false;
}

char *fault_engine_list(struct fault_engine *e)
{
  cJSON *out = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(out, "Faults");
  struct fault_rule *r;
  char *text;

  for (r = e->rules; r && arr; r = r->next) {
    cJSON *o = cJSON_Duplicate(r->json, true);
    if (!o)
      continue;
    cJSON_AddStringToObject(o, "Id", r->id);
    cJSON_AddNumberToObject(o, "Fired", (double)r->fired);
    cJSON_AddItemToArray(arr, o);
  }
  text = cJSON_PrintUnformatted(out);
  cJSON_Delete(out);
  return text;
}

/* The node a "$.a.b[0]" path names in root, or NULL. */
static const cJSON *json_path(const cJSON *root, const char *path)
{
  const cJSON *cur = root;
  const char *p = path;

  if (p[0] == '$')
    p++;
  while (cur && *p) {
    if (*p == '.') {
      char key[256];
      size_t n = 0;
      p++;
      while (*p && *p != '.' && *p != '[' && n < sizeof(key) - 1)
        key[n++] = *p++;
      key[n] = '\0';
      cur = cJSON_IsObject(cur) ? cJSON_GetObjectItemCaseSensitive(cur, key) : NULL;
    } else if (*p == '[') {
      char *end;
      long idx = strtol(p + 1, &end, 10);
      if (*end != ']' || idx < 0)
        return NULL;
      cur = cJSON_IsArray(cur) ? cJSON_GetArrayItem(cur, (int)idx) : NULL;
      p = end + 1;
    } else {
      /* a path without the leading "$." : treat as a key */
      char key[256];
      size_t n = 0;
      while (*p && *p != '.' && *p != '[' && n < sizeof(key) - 1)
        key[n++] = *p++;
      key[n] = '\0';
      cur = cJSON_IsObject(cur) ? cJSON_GetObjectItemCaseSensitive(cur, key) : NULL;
    }
  }
  return cur;
}

static bool match_one(const struct fault_match *m, const cJSON *event, const cJSON *cc)
{
  const cJSON *node = json_path(m->client_context ? cc : event, m->path);

  switch (m->op) {
  case MATCH_EXISTS:
    return (node != NULL) == cJSON_IsTrue(m->value);
  case MATCH_EQ:
    return node && cJSON_Compare(node, m->value, true);
  case MATCH_STARTS_WITH:
    return cJSON_IsString(node) && !strncmp(node->valuestring, m->value->valuestring,
                                            strlen(m->value->valuestring));
  case MATCH_REGEX:
    return cJSON_IsString(node) && m->re_ok && regexec(&m->re, node->valuestring, 0, NULL, 0) == 0;
  }
  return false;
}

static unsigned long rule_count(struct fault_rule *r, const char *function)
{
  size_t i;
  struct fn_count *g;

  for (i = 0; i < r->n_counts; i++)
    if (!strcmp(r->counts[i].function, function))
      return ++r->counts[i].count;
  g = realloc(r->counts, (r->n_counts + 1) * sizeof(*g));
  if (!g)
    return 0;
  r->counts = g;
  r->counts[r->n_counts].function = util_strdup(function);
  r->counts[r->n_counts].count = 1;
  r->n_counts++;
  return 1;
}

bool fault_engine_decide(struct fault_engine *e, const char *function, const char *payload,
                         size_t len, const char *client_context, uint64_t now_ms, enum fault_scope scope,
                         struct fault_hit *hit)
{
  struct fault_rule *r, *winner = NULL;
  cJSON *event = NULL, *cc = NULL;
  bool parsed = false;

  for (r = e->rules; r; r = r->next) {
    unsigned long n;
    bool fire = false;
    size_t i;

    if (strcmp(r->function, "*") && strcmp(r->function, function))
      continue;
    if (r->expires_ms && now_ms >= r->expires_ms)
      continue;
    if (scope != FAULT_SCOPE_ALL && fault_kind_at_call(r->kind) != (scope == FAULT_SCOPE_CALL))
      continue;
    n = rule_count(r, function);
    switch (r->when) {
    case WHEN_ALWAYS:
      fire = true;
      break;
    case WHEN_NTH:
      for (i = 0; i < r->n_nth; i++)
        fire |= r->nth[i] == n;
      break;
    case WHEN_EVERY:
      fire = n % r->every == 0;
      break;
    case WHEN_PROBABILITY:
      fire = rule_draw(r) < r->probability; /* drawn every time: the sequence stays seeded */
      break;
    }
    if (!fire || winner || (r->times >= 0 && (long)r->fired >= r->times))
      continue;
    if (r->n_match) {
      bool all = true;
      if (!parsed) {
        event = cJSON_ParseWithLength(payload ? payload : "", len);
        cc = client_context ? cJSON_Parse(client_context) : NULL;
        parsed = true;
      }
      for (i = 0; i < r->n_match && all; i++)
        all = match_one(&r->match[i], event, cc);
      if (!all)
        continue;
    }
    winner = r;
  }
  cJSON_Delete(event);
  cJSON_Delete(cc);
  if (!winner)
    return false;
  winner->fired++;
  if (e->on_fired)
    e->on_fired(e->on_fired_cls, winner->id, winner->kind->name, function);
  snprintf(hit->id, sizeof(hit->id), "%s", winner->id);
  hit->kind = winner->kind;
  hit->params = winner->params;
  return true;
}

void fault_engine_set_observer(struct fault_engine *e, fault_fired_fn fn, void *cls)
{
  e->on_fired = fn;
  e->on_fired_cls = cls;
}

bool fault_engine_pending(struct fault_engine *e, const char *function, uint64_t now_ms)
{
  struct fault_rule *r;

  for (r = e->rules; r; r = r->next)
    if (r->kind->action == FAULT_PENDING && (!strcmp(r->function, "*") || !strcmp(r->function, function)) &&
        (!r->expires_ms || now_ms < r->expires_ms) && (r->times < 0 || (long)r->fired < r->times))
      return true;
  return false;
}

/* ---- AWS FIS experiment templates ---- */

/* ISO 8601 duration "PT5M", "PT30S", "PT1H" → ms (0 = none). */
static uint64_t iso_duration_ms(const char *s)
{
  double ms = 0, v, unit;
  char *end;

  if (!s || s[0] != 'P')
    return 0;
  s++;
  while (*s) {
    if (*s == 'T') {
      s++;
      continue;
    }
    v = strtod(s, &end);
    if (end == s || !(v >= 0)) /* also refuses NaN; "PT-5M" is no duration */
      return 0;
    switch (*end) {
    case 'H': unit = 3600000.0; break;
    case 'M': unit = 60000.0; break;
    case 'S': unit = 1000.0; break;
    case 'D': unit = 86400000.0; break;
    default: return 0;
    }
    ms += v * unit;
    s = end + 1;
  }
  /* Converted only once known to fit (tests/fuzz: "PT1e300H" overflowed the cast). */
  return ms < FAULT_MAX_SECONDS * 1000.0 ? (uint64_t)ms : (uint64_t)(FAULT_MAX_SECONDS * 1000.0);
}

static const char *param(const cJSON *params, const char *key)
{
  const cJSON *v = params ? cJSON_GetObjectItemCaseSensitive(params, key) : NULL;

  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The function names an FIS target selects (resourceArns → names; "*" otherwise). */
static void fis_target_functions(const cJSON *target, cJSON *names)
{
  const cJSON *arns = cJSON_GetObjectItemCaseSensitive(target, "resourceArns"), *it;

  if (!cJSON_IsArray(arns) || cJSON_GetArraySize(arns) == 0) {
    cJSON_AddItemToArray(names, cJSON_CreateString("*"));
    return;
  }
  cJSON_ArrayForEach(it, arns) {
    const char *colon;
    if (!cJSON_IsString(it))
      continue;
    colon = strstr(it->valuestring, ":function:");
    if (colon) {
      char name[128];
      snprintf(name, sizeof(name), "%s", colon + 10);
      if (strchr(name, ':'))
        *strchr(name, ':') = '\0';
      cJSON_AddItemToArray(names, cJSON_CreateString(name));
    }
  }
}

lemu_err_t fault_engine_add_fis(struct fault_engine *e, const cJSON *tmpl, uint64_t seed,
                                uint64_t now_ms, char **ids, char **message)
{
  const cJSON *actions = cJSON_GetObjectItemCaseSensitive(tmpl, "actions");
  const cJSON *targets = cJSON_GetObjectItemCaseSensitive(tmpl, "targets");
  cJSON *out = cJSON_CreateArray(), *rules = cJSON_CreateArray();
  const cJSON *a;
  lemu_err_t rc = LEMU_ERR_INVAL;
  uint64_t salt = 0;

  *ids = NULL;
  *message = NULL;
  if (!out || !rules)
    goto out;
  if (!cJSON_IsObject(actions)) {
    *message = util_strdup("actions: expected the FIS template's actions object");
    goto out;
  }
  /* Build every rule first, so a bad action adds nothing. */
  cJSON_ArrayForEach(a, actions) {
    const cJSON *action_id = cJSON_GetObjectItemCaseSensitive(a, "actionId");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(a, "parameters");
    const cJSON *tref = cJSON_GetObjectItemCaseSensitive(a, "targets"), *tn, *fn;
    const char *pct = param(params, "invocationPercentage");
    cJSON *names = cJSON_CreateArray();
    const char *kind = NULL;
    cJSON *p = cJSON_CreateObject();

    if (!cJSON_IsString(action_id) || strncmp(action_id->valuestring, FIS_PREFIX, strlen(FIS_PREFIX))) {
      cJSON_Delete(names);
      cJSON_Delete(p);
      continue; /* not a Lambda action: other services are out of scope */
    }
    if (!strcmp(action_id->valuestring, "aws:lambda:invocation-add-delay")) {
      const char *ms = param(params, "startupDelayMilliseconds");
      kind = "latency";
      cJSON_AddNumberToObject(p, "Ms", ms ? atof(ms) : 1000);
    } else if (!strcmp(action_id->valuestring, "aws:lambda:invocation-error")) {
      const char *prevent = param(params, "preventExecution");
      kind = prevent && !strcmp(prevent, "false") ? "crash" : "function-error";
      cJSON_AddStringToObject(p, "ErrorType", "FISInjectedError");
      cJSON_AddStringToObject(p, "ErrorMessage", "Invocation error injected by an AWS FIS experiment");
    } else if (!strcmp(action_id->valuestring, "aws:lambda:invocation-http-integration-response")) {
      const char *sc = param(params, "statusCode"), *ct = param(params, "contentTypeHeader");
      kind = "http-integration-response";
      cJSON_AddNumberToObject(p, "StatusCode", sc ? atoi(sc) : 500);
      cJSON_AddStringToObject(p, "ContentType", ct ? ct : "text/plain");
    } else {
      *message = util_asprintf("actions.%s.actionId: unsupported Lambda action %s", a->string,
                               action_id->valuestring);
      cJSON_Delete(names);
      cJSON_Delete(p);
      goto out;
    }
    cJSON_ArrayForEach(tn, tref) {
      const cJSON *t = cJSON_IsString(tn) ? cJSON_GetObjectItemCaseSensitive(targets, tn->valuestring) : NULL;
      if (t)
        fis_target_functions(t, names);
    }
    if (cJSON_GetArraySize(names) == 0)
      cJSON_AddItemToArray(names, cJSON_CreateString("*"));
    cJSON_ArrayForEach(fn, names) {
      cJSON *r = cJSON_CreateObject(), *w = cJSON_AddObjectToObject(r, "When");
      cJSON_AddStringToObject(r, "Function", fn->valuestring);
      cJSON_AddStringToObject(r, "Fault", kind);
      if (pct && atof(pct) < 100) {
        cJSON_AddNumberToObject(w, "Probability", atof(pct) / 100.0);
        cJSON_AddNumberToObject(w, "Seed", (double)(seed + salt++));
      } else {
        cJSON_AddTrueToObject(w, "Always");
      }
      cJSON_AddItemToObject(r, "Params", cJSON_Duplicate(p, true));
      cJSON_AddNumberToObject(r, "_DurationMs", (double)iso_duration_ms(param(params, "duration")));
      cJSON_AddItemToArray(rules, r);
    }
    cJSON_Delete(names);
    cJSON_Delete(p);
  }
  if (cJSON_GetArraySize(rules) == 0) {
    *message = util_strdup("actions: no aws:lambda:* action in the template");
    goto out;
  }
  {
    /* Parse every rule before linking any: one the engine refuses (say a target ARN naming no
     * function, or a negative delay) must leave the engine as it was (found by tests/fuzz). */
    const cJSON *r;
    struct fault_rule *parsed = NULL, **tail = &parsed, *fr;
    cJSON_ArrayForEach(r, rules) {
      cJSON *copy = cJSON_Duplicate(r, true);
      const cJSON *dur_j = cJSON_GetObjectItemCaseSensitive(r, "_DurationMs");
      uint64_t dur = cJSON_IsNumber(dur_j) ? (uint64_t)dur_j->valuedouble : 0; /* iso_duration_ms bounds it */
      cJSON_DeleteItemFromObjectCaseSensitive(copy, "_DurationMs");
      fr = rule_parse(copy, now_ms, message);
      cJSON_Delete(copy);
      if (!fr) {
        while (parsed) {
          fr = parsed;
          parsed = fr->next;
          rule_free(fr);
        }
        goto out;
      }
      if (dur)
        fr->expires_ms = now_ms + dur;
      *tail = fr;
      tail = &fr->next;
    }
    while (parsed) {
      fr = parsed;
      parsed = fr->next;
      fr->next = NULL;
      rule_link(e, fr);
      cJSON_AddItemToArray(out, cJSON_CreateString(fr->id));
    }
  }
  *ids = cJSON_PrintUnformatted(out);
  rc = LEMU_ERR_OK;
out:
  cJSON_Delete(out);
  cJSON_Delete(rules);
  return rc;
}
