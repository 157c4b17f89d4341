/* AWS SAM / CloudFormation templates as function configuration (see include/lemu/sam.h and
 * docs/sam.md). The YAML is read with libyaml into a cJSON tree in which the short intrinsic forms
 * (!Ref, !Sub, ...) are already their long forms ({"Ref": ...}, {"Fn::Sub": ...}); each function
 * resource's properties that lemu uses are resolved (parameters, pseudo parameters, conditions,
 * !GetAtt of functions, queues and topics) into lemu.json's shape, and config.c validates them, so
 * a template and a lemu.json fail with the same words. Properties lemu has no use for (Role,
 * Policies, Tracing, ...) are never resolved, so an intrinsic there cannot stop lemu. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "lemu/config.h"
#include "lemu/logs.h"
#include "lemu/sam.h"
#include "lemu/util.h"

#define SAM_MAX_DEPTH 64          /* YAML nesting and intrinsic nesting (also stops cycles) */
#define SAM_MAX_FILE_BYTES (16 * 1024 * 1024)
#define SAM_TYPE_SERVERLESS "AWS::Serverless::Function"
#define SAM_TYPE_LAMBDA "AWS::Lambda::Function"
#define SAM_TYPE_EIC "AWS::Lambda::EventInvokeConfig"
#define SAM_TYPE_QUEUE "AWS::SQS::Queue"
#define SAM_TYPE_TOPIC "AWS::SNS::Topic"
#define SAM_DEFAULT_STACK "lemu"
#define SAM_INLINE_SUBDIR "sam-inline"

struct sam_ctx {
  struct util_located loc;  /* the template's path, and the first failure */
  cJSON *root;
  const cJSON *resources, *parameters, *conditions, *mappings, *globals;
  cJSON *overrides;         /* {"Name": "text"} from --parameter-overrides */
  cJSON *param_values;      /* memo: parameter name -> its value */
  cJSON *cond_values;       /* memo: condition name -> bool (null while being evaluated) */
  const char *region, *account, *stack;
  char partition[16];
  int depth;
};

#define sam_fail(c, ...) util_located_fail(&(c)->loc, __VA_ARGS__)

static char *sam_path(const char *parent, const char *key)
{
  return parent && *parent ? util_asprintf("%s.%s", parent, key) : util_strdup(key);
}

/* ------------------------------------------------------------------------------------------ */
/* YAML to cJSON */

/* A plain scalar's JSON type as YAML 1.2's core schema (and CloudFormation) reads it. Numbers and
 * booleans keep their source text in valuestring (cJSON frees and copies it with the item), so a
 * value later wanted as a string (an environment variable "1.10") is exactly what was written. */
static cJSON *sam_plain_scalar(const char *s)
{
  cJSON *v = NULL;
  char *end;
  double d;
  size_t i;
  bool numeric = *s != '\0';

  if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"))
    return cJSON_CreateNull();
  if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
    v = cJSON_CreateTrue();
  else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
    v = cJSON_CreateFalse();
  for (i = 0; !v && s[i]; i++)
    if (!strchr("0123456789+-.eE", s[i]))
      numeric = false;
  if (!v && numeric && strpbrk(s, "0123456789")) {
    errno = 0;
    d = strtod(s, &end);
    if (!*end && !errno)
      v = cJSON_CreateNumber(d);
  }
  if (!v)
    return cJSON_CreateString(s);
  if (v)
    v->valuestring = util_strdup(s);
  return v;
}

/* "!GetAtt A.B" -> ["A", "B"] */
static cJSON *sam_getatt_split(const char *s)
{
  const char *dot = strchr(s, '.');
  cJSON *a = cJSON_CreateArray();
  char *id = dot ? strndup(s, (size_t)(dot - s)) : util_strdup(s);

  cJSON_AddItemToArray(a, cJSON_CreateString(id ? id : ""));
  if (dot)
    cJSON_AddItemToArray(a, cJSON_CreateString(dot + 1));
  free(id);
  return a;
}

static cJSON *sam_yaml_node(struct sam_ctx *c, yaml_document_t *doc, yaml_node_t *n, int depth)
{
  cJSON *v = NULL;
  const char *tag = (const char *)n->tag;
  bool local_tag = tag && tag[0] == '!' && tag[1] != '!';

  if (depth > SAM_MAX_DEPTH) {
    sam_fail(c, NULL, "line %zu: nested more than %d levels deep", n->start_mark.line + 1, SAM_MAX_DEPTH);
    return NULL;
  }
  switch (n->type) {
  case YAML_SCALAR_NODE: {
    const char *s = (const char *)n->data.scalar.value;
    if (local_tag && !strcmp(tag, "!GetAtt"))
      v = sam_getatt_split(s);
    else if (local_tag || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
      v = cJSON_CreateString(s);
    else
      v = sam_plain_scalar(s);
    break;
  }
  case YAML_SEQUENCE_NODE: {
    yaml_node_item_t *it;
    v = cJSON_CreateArray();
    for (it = n->data.sequence.items.start; v && it < n->data.sequence.items.top; it++) {
      cJSON *e = sam_yaml_node(c, doc, yaml_document_get_node(doc, *it), depth + 1);
      if (!e) {
        cJSON_Delete(v);
        return NULL;
      }
      cJSON_AddItemToArray(v, e);
    }
    break;
  }
  case YAML_MAPPING_NODE: {
    yaml_node_pair_t *p;
    v = cJSON_CreateObject();
    for (p = n->data.mapping.pairs.start; v && p < n->data.mapping.pairs.top; p++) {
      yaml_node_t *k = yaml_document_get_node(doc, p->key);
      cJSON *e;
      const char *key;
      if (!k || k->type != YAML_SCALAR_NODE) {
        sam_fail(c, NULL, "line %zu: expected a plain key, got a %s", n->start_mark.line + 1,
                 k && k->type == YAML_MAPPING_NODE ? "mapping" : "sequence");
        cJSON_Delete(v);
        return NULL;
      }
      key = (const char *)k->data.scalar.value;
      if (cJSON_GetObjectItemCaseSensitive(v, key)) {
        sam_fail(c, NULL, "line %zu column %zu: duplicate key \"%s\"", k->start_mark.line + 1,
                 k->start_mark.column + 1, key);
        cJSON_Delete(v);
        return NULL;
      }
      e = sam_yaml_node(c, doc, yaml_document_get_node(doc, p->value), depth + 1);
      if (!e) {
        cJSON_Delete(v);
        return NULL;
      }
      cJSON_AddItemToObject(v, key, e);
    }
    break;
  }
  default:
    break;
  }
  if (v && local_tag) {
    /* !Ref and !Condition keep their names, every other !X is Fn::X. */
    cJSON *wrap = cJSON_CreateObject();
    char *name = !strcmp(tag, "!Ref") || !strcmp(tag, "!Condition") ? util_strdup(tag + 1)
                                                                      : util_asprintf("Fn::%s", tag + 1);
    if (!wrap || !name) {
      cJSON_Delete(wrap);
      cJSON_Delete(v);
      free(name);
      return NULL;
    }
    cJSON_AddItemToObject(wrap, name, v);
    free(name);
    v = wrap;
  }
  if (!v)
    sam_fail(c, NULL, "out of memory");
  return v;
}

static cJSON *sam_parse_file(struct sam_ctx *c, const char *path)
{
  FILE *f = fopen(path, "rb");
  yaml_parser_t parser;
  yaml_document_t doc;
  yaml_node_t *top;
  cJSON *root = NULL;
  struct stat st;

  if (!f) {
    sam_fail(c, NULL, "cannot read the template: %s", strerror(errno));
    return NULL;
  }
  if (fstat(fileno(f), &st) == 0 && st.st_size > SAM_MAX_FILE_BYTES) {
    sam_fail(c, NULL, "expected a template of at most %d bytes", SAM_MAX_FILE_BYTES);
    fclose(f);
    return NULL;
  }
  if (!yaml_parser_initialize(&parser)) {
    sam_fail(c, NULL, "out of memory");
    fclose(f);
    return NULL;
  }
  yaml_parser_set_input_file(&parser, f);
  if (!yaml_parser_load(&parser, &doc)) {
    sam_fail(c, NULL, "line %zu column %zu: expected valid YAML (%s%s%s)", parser.problem_mark.line + 1,
             parser.problem_mark.column + 1, parser.problem ? parser.problem : "syntax error",
             parser.context ? " " : "", parser.context ? parser.context : "");
  } else {
    top = yaml_document_get_root_node(&doc);
    if (!top)
      sam_fail(c, NULL, "expected a template, got an empty file");
    else
      root = sam_yaml_node(c, &doc, top, 0);
    yaml_document_delete(&doc);
  }
  yaml_parser_delete(&parser);
  fclose(f);
  return root;
}

/* ------------------------------------------------------------------------------------------ */
/* intrinsics */

static bool sam_resolve(struct sam_ctx *c, const cJSON *v, const char *path, cJSON **out);

/* The intrinsic an object is ({"Ref": x}, {"Fn::Sub": x}, {"Condition": x}), or NULL. */
static const char *sam_intrinsic(const cJSON *v)
{
  const char *k;

  if (!cJSON_IsObject(v) || !v->child || v->child->next)
    return NULL;
  k = v->child->string;
  return !strcmp(k, "Ref") || !strcmp(k, "Condition") || !strncmp(k, "Fn::", 4) ? k : NULL;
}

/* "Fn::Sub" -> "!Sub" for messages. */
static const char *sam_short(const char *fn)
{
  return !strncmp(fn, "Fn::", 4) ? fn + 4 : fn;
}

/* A scalar as CloudFormation's string (malloc'd), or NULL when v is not a scalar. */
static char *sam_text(const cJSON *v)
{
  if (cJSON_IsString(v))
    return util_strdup(v->valuestring);
  if ((cJSON_IsNumber(v) || cJSON_IsBool(v)) && v->valuestring)
    return util_strdup(v->valuestring);
  if (cJSON_IsNumber(v))
    return v->valuedouble == (double)(long long)v->valuedouble ? util_asprintf("%lld", (long long)v->valuedouble)
                                                               : util_asprintf("%.17g", v->valuedouble);
  if (cJSON_IsBool(v))
    return util_strdup(cJSON_IsTrue(v) ? "true" : "false");
  return NULL;
}

static const cJSON *sam_resource(struct sam_ctx *c, const char *id, const char **type)
{
  const cJSON *r = cJSON_GetObjectItemCaseSensitive(c->resources, id), *t;

  t = r ? cJSON_GetObjectItemCaseSensitive(r, "Type") : NULL;
  *type = cJSON_IsString(t) ? t->valuestring : "";
  return r;
}

/* A resource's physical name: its name property when given (resolved), else its logical id. */
static char *sam_physical_name(struct sam_ctx *c, const char *id, const cJSON *res, const char *prop)
{
  const cJSON *props = cJSON_GetObjectItemCaseSensitive(res, "Properties");
  const cJSON *n = props ? cJSON_GetObjectItemCaseSensitive(props, prop) : NULL;
  cJSON *v = NULL;
  char *path, *name;

  if (!n)
    return util_strdup(id);
  path = util_asprintf("Resources.%s.Properties.%s", id, prop);
  if (!sam_resolve(c, n, path, &v)) {
    free(path);
    return NULL;
  }
  if (!cJSON_IsString(v) || !v->valuestring[0]) {
    sam_fail(c, path, "expected a non-empty string");
    name = NULL;
  } else {
    name = util_strdup(v->valuestring);
  }
  cJSON_Delete(v);
  free(path);
  return name;
}

static bool sam_param(struct sam_ctx *c, const char *name, const char *path, const char *shown, cJSON **out)
{
  const cJSON *def = cJSON_GetObjectItemCaseSensitive(c->parameters, name), *t, *dflt, *allowed, *ov;
  const char *type;
  char *text = NULL, *ppath = util_asprintf("Parameters.%s", name);
  cJSON *v = NULL;
  bool ok = false;

  if ((v = cJSON_GetObjectItemCaseSensitive(c->param_values, name)) != NULL) {
    *out = cJSON_Duplicate(v, true);
    free(ppath);
    return true;
  }
  v = NULL;
  t = cJSON_GetObjectItemCaseSensitive(def, "Type");
  type = cJSON_IsString(t) ? t->valuestring : "String";
  ov = cJSON_GetObjectItemCaseSensitive(c->overrides, name);
  dflt = cJSON_GetObjectItemCaseSensitive(def, "Default");
  if (ov) {
    text = util_strdup(ov->valuestring);
  } else if (!strncmp(type, "AWS::SSM::Parameter::", 21)) {
    sam_fail(c, path, "cannot resolve %s: parameter %s is of type %s and lemu cannot read SSM; "
             "give its value with --parameter-overrides %s=VALUE", shown, name, type, name);
    goto out;
  } else if (dflt) {
    text = sam_text(dflt);
    if (!text && cJSON_IsArray(dflt) && !strncmp(type, "List<", 5)) {
      v = cJSON_Duplicate(dflt, true);
      goto done;
    }
    if (!text) {
      sam_fail(c, ppath, "Default: expected a string or number");
      goto out;
    }
  } else {
    sam_fail(c, path, "cannot resolve %s: parameter %s has no Default and no --parameter-overrides "
             "value", shown, name);
    goto out;
  }
  allowed = cJSON_GetObjectItemCaseSensitive(def, "AllowedValues");
  if (cJSON_IsArray(allowed)) {
    const cJSON *a;
    bool found = false;
    cJSON_ArrayForEach(a, allowed) {
      char *at = sam_text(a);
      found |= at && !strcmp(at, text);
      free(at);
    }
    if (!found) {
      sam_fail(c, ppath, "expected one of its AllowedValues, got \"%s\"%s", text,
               ov ? " (from --parameter-overrides)" : "");
      goto out;
    }
  }
  if (!strcmp(type, "Number")) {
    char *end;
    double d;
    errno = 0;
    d = strtod(text, &end);
    if (!*text || *end || errno) {
      sam_fail(c, ppath, "expected a number (Type Number), got \"%s\"", text);
      goto out;
    }
    v = cJSON_CreateNumber(d);
    if (v)
      v->valuestring = util_strdup(text);
  } else if (!strcmp(type, "CommaDelimitedList") || !strncmp(type, "List<", 5)) {
    char *save = NULL, *tok;
    v = cJSON_CreateArray();
    for (tok = strtok_r(text, ",", &save); v && tok; tok = strtok_r(NULL, ",", &save)) {
      while (*tok == ' ')
        tok++;
      cJSON_AddItemToArray(v, cJSON_CreateString(tok));
    }
  } else {
    v = cJSON_CreateString(text);
  }
done:
  if (!v) {
    sam_fail(c, ppath, "out of memory");
    goto out;
  }
  cJSON_AddItemToObject(c->param_values, name, cJSON_Duplicate(v, true));
  *out = v;
  ok = true;
out:
  free(text);
  free(ppath);
  return ok;
}

/* !Ref name (shown names it in messages: "!Ref X" or "${X} in !Sub"). NoValue: *out stays NULL. */
static bool sam_ref(struct sam_ctx *c, const char *name, const char *path, const char *shown, cJSON **out)
{
  const cJSON *res;
  const char *type;
  char *phys, *s = NULL;

  *out = NULL;
  if (!strcmp(name, "AWS::Region"))
    s = util_strdup(c->region);
  else if (!strcmp(name, "AWS::AccountId"))
    s = util_strdup(c->account);
  else if (!strcmp(name, "AWS::Partition"))
    s = util_strdup(c->partition);
  else if (!strcmp(name, "AWS::StackName"))
    s = util_strdup(c->stack);
  else if (!strcmp(name, "AWS::StackId"))
    s = util_asprintf("arn:%s:cloudformation:%s:%s:stack/%s/00000000-0000-4000-8000-000000000000",
                      c->partition, c->region, c->account, c->stack);
  else if (!strcmp(name, "AWS::URLSuffix"))
    s = util_strdup(strcmp(c->partition, "aws-cn") ? "amazonaws.com" : "amazonaws.com.cn");
  else if (!strcmp(name, "AWS::NoValue"))
    return true;
  else if (!strcmp(name, "AWS::NotificationARNs"))
    return (*out = cJSON_CreateArray()) != NULL;
  if (s) {
    *out = cJSON_CreateString(s);
    free(s);
    return *out != NULL;
  }
  if (cJSON_GetObjectItemCaseSensitive(c->parameters, name))
    return sam_param(c, name, path, shown, out);
  res = sam_resource(c, name, &type);
  if (!res) {
    sam_fail(c, path, "cannot resolve %s: no parameter, pseudo parameter or resource is named %s", shown, name);
    return false;
  }
  if (!strcmp(type, SAM_TYPE_SERVERLESS) || !strcmp(type, SAM_TYPE_LAMBDA)) {
    if (!(phys = sam_physical_name(c, name, res, "FunctionName")))
      return false;
    s = phys;
  } else if (!strcmp(type, SAM_TYPE_QUEUE)) {
    if (!(phys = sam_physical_name(c, name, res, "QueueName")))
      return false;
    s = util_asprintf("https://sqs.%s.amazonaws.com/%s/%s", c->region, c->account, phys);
    free(phys);
  } else if (!strcmp(type, SAM_TYPE_TOPIC)) {
    if (!(phys = sam_physical_name(c, name, res, "TopicName")))
      return false;
    s = util_asprintf("arn:%s:sns:%s:%s:%s", c->partition, c->region, c->account, phys);
    free(phys);
  } else {
    sam_fail(c, path, "cannot resolve %s: the value of a %s resource is only known once deployed "
             "(lemu knows functions, SQS queues and SNS topics)", shown, type[0] ? type : "typeless");
    return false;
  }
  *out = cJSON_CreateString(s ? s : "");
  free(s);
  return *out != NULL;
}

static bool sam_getatt(struct sam_ctx *c, const char *id, const char *attr, const char *path,
                       const char *shown, cJSON **out)
{
  const char *type;
  const cJSON *res = sam_resource(c, id, &type);
  char *phys = NULL, *s = NULL;

  *out = NULL;
  if (!res) {
    sam_fail(c, path, "cannot resolve %s: no resource is named %s", shown, id);
    return false;
  }
  if ((!strcmp(type, SAM_TYPE_SERVERLESS) || !strcmp(type, SAM_TYPE_LAMBDA)) && !strcmp(attr, "Arn")) {
    if ((phys = sam_physical_name(c, id, res, "FunctionName")))
      s = util_asprintf("arn:%s:lambda:%s:%s:function:%s", c->partition, c->region, c->account, phys);
  } else if (!strcmp(type, SAM_TYPE_QUEUE) &&
             (!strcmp(attr, "Arn") || !strcmp(attr, "QueueName") || !strcmp(attr, "QueueUrl"))) {
    if ((phys = sam_physical_name(c, id, res, "QueueName")))
      s = !strcmp(attr, "Arn") ? util_asprintf("arn:%s:sqs:%s:%s:%s", c->partition, c->region, c->account, phys)
          : !strcmp(attr, "QueueUrl") ? util_asprintf("https://sqs.%s.amazonaws.com/%s/%s", c->region, c->account, phys)
                                      : util_strdup(phys);
  } else if (!strcmp(type, SAM_TYPE_TOPIC) && (!strcmp(attr, "TopicArn") || !strcmp(attr, "TopicName"))) {
    if ((phys = sam_physical_name(c, id, res, "TopicName")))
      s = !strcmp(attr, "TopicArn") ? util_asprintf("arn:%s:sns:%s:%s:%s", c->partition, c->region, c->account, phys)
                                    : util_strdup(phys);
  } else {
    sam_fail(c, path, "cannot resolve %s: attribute %s of a %s resource is only known once deployed "
             "(lemu knows a function's Arn, a queue's Arn / QueueName / QueueUrl and a topic's "
             "TopicArn / TopicName)", shown, attr, type[0] ? type : "typeless");
    return false;
  }
  free(phys);
  if (!s)
    return false;
  *out = cJSON_CreateString(s);
  free(s);
  return *out != NULL;
}

/* Resolve v and require a scalar; *text is malloc'd. */
static bool sam_resolve_text(struct sam_ctx *c, const cJSON *v, const char *path, const char *shown, char **text)
{
  cJSON *r = NULL;

  *text = NULL;
  if (!sam_resolve(c, v, path, &r))
    return false;
  *text = sam_text(r);
  cJSON_Delete(r);
  if (!*text)
    sam_fail(c, path, "cannot resolve %s: expected a string or number there", shown);
  return *text != NULL;
}

static bool sam_sub(struct sam_ctx *c, const cJSON *arg, const char *path, cJSON **out)
{
  const cJSON *tmpl = arg, *vars = NULL;
  const char *s, *open, *close;
  char *acc = util_strdup(""), *next;
  bool ok = false;

  if (cJSON_IsArray(arg) && cJSON_GetArraySize(arg) == 2) {
    tmpl = cJSON_GetArrayItem(arg, 0);
    vars = cJSON_GetArrayItem(arg, 1);
    if (!cJSON_IsObject(vars)) {
      sam_fail(c, path, "cannot resolve !Sub: expected [string, {variables}]");
      goto out;
    }
  }
  if (!cJSON_IsString(tmpl)) {
    sam_fail(c, path, "cannot resolve !Sub: expected a string or [string, {variables}]");
    goto out;
  }
  for (s = tmpl->valuestring; acc && (open = strstr(s, "${")) != NULL; s = close + 1) {
    char *inner, *value = NULL, *shown;
    const cJSON *var;
    cJSON *r = NULL;
    bool got;
    close = strchr(open + 2, '}');
    if (!close) {
      sam_fail(c, path, "cannot resolve !Sub: \"${\" without a closing \"}\" in \"%s\"", tmpl->valuestring);
      goto out;
    }
    inner = strndup(open + 2, (size_t)(close - open - 2));
    shown = util_asprintf("${%s} in !Sub", inner ? inner : "");
    if (!inner || !shown) {
      free(inner);
      free(shown);
      goto out;
    }
    if (inner[0] == '!') {
      value = util_asprintf("${%s}", inner + 1); /* ${!Literal} */
      got = value != NULL;
    } else if ((var = vars ? cJSON_GetObjectItemCaseSensitive(vars, inner) : NULL) != NULL) {
      got = sam_resolve_text(c, var, path, shown, &value);
    } else {
      char *dot = strchr(inner, '.');
      if (dot) {
        *dot = '\0';
        got = sam_getatt(c, inner, dot + 1, path, shown, &r);
      } else {
        got = sam_ref(c, inner, path, shown, &r);
      }
      if (got && !(value = sam_text(r))) {
        sam_fail(c, path, "cannot resolve %s: expected a string value", shown);
        got = false;
      }
      cJSON_Delete(r);
    }
    free(inner);
    free(shown);
    if (!got) {
      free(value);
      goto out;
    }
    next = util_asprintf("%s%.*s%s", acc, (int)(open - s), s, value);
    free(value);
    free(acc);
    acc = next;
  }
  if (!acc)
    goto out;
  next = util_asprintf("%s%s", acc, s);
  free(acc);
  acc = next;
  ok = acc && (*out = cJSON_CreateString(acc)) != NULL;
out:
  free(acc);
  return ok;
}

static bool sam_condition(struct sam_ctx *c, const char *name, const char *path, bool *value)
{
  const cJSON *def = cJSON_GetObjectItemCaseSensitive(c->conditions, name), *memo;
  cJSON *r = NULL;
  char *cpath;
  bool ok;

  memo = cJSON_GetObjectItemCaseSensitive(c->cond_values, name);
  if (memo && cJSON_IsBool(memo)) {
    *value = cJSON_IsTrue(memo);
    return true;
  }
  if (memo) {
    sam_fail(c, path, "cannot resolve condition %s: it depends on itself", name);
    return false;
  }
  if (!def) {
    sam_fail(c, path, "cannot resolve condition %s: no entry of that name under Conditions", name);
    return false;
  }
  cJSON_AddItemToObject(c->cond_values, name, cJSON_CreateNull());
  cpath = util_asprintf("Conditions.%s", name);
  ok = sam_resolve(c, def, cpath, &r);
  if (ok && !cJSON_IsBool(r)) {
    sam_fail(c, cpath, "expected a condition function (!Equals, !Not, !And, !Or, !Condition)");
    ok = false;
  }
  if (ok) {
    *value = cJSON_IsTrue(r);
    cJSON_ReplaceItemInObjectCaseSensitive(c->cond_values, name, cJSON_CreateBool(*value));
  }
  cJSON_Delete(r);
  free(cpath);
  return ok;
}

static bool sam_resolve_bool(struct sam_ctx *c, const cJSON *v, const char *path, const char *shown, bool *b)
{
  cJSON *r = NULL;
  bool ok = sam_resolve(c, v, path, &r);

  if (ok && !cJSON_IsBool(r)) {
    sam_fail(c, path, "cannot resolve %s: expected a condition (!Equals, !Not, !And, !Or, !Condition)", shown);
    ok = false;
  }
  if (ok)
    *b = cJSON_IsTrue(r);
  cJSON_Delete(r);
  return ok;
}

static bool sam_fn(struct sam_ctx *c, const char *fn, const cJSON *arg, const char *path, cJSON **out)
{
  int n = cJSON_IsArray(arg) ? cJSON_GetArraySize(arg) : -1;
  char shown[64];
  bool b = false;

  snprintf(shown, sizeof(shown), "!%s", sam_short(fn));
  if (!strcmp(fn, "Ref")) {
    char ref_shown[300];
    if (!cJSON_IsString(arg)) {
      sam_fail(c, path, "cannot resolve !Ref: expected a name");
      return false;
    }
    snprintf(ref_shown, sizeof(ref_shown), "!Ref %.250s", arg->valuestring);
    return sam_ref(c, arg->valuestring, path, ref_shown, out);
  }
  if (!strcmp(fn, "Fn::GetAtt")) {
    char ga_shown[300];
    const cJSON *id = n == 2 ? cJSON_GetArrayItem(arg, 0) : NULL, *attr = n == 2 ? cJSON_GetArrayItem(arg, 1) : NULL;
    cJSON *split = NULL;
    bool ok;
    if (cJSON_IsString(arg)) { /* long form "Fn::GetAtt": "X.Arn" */
      split = sam_getatt_split(arg->valuestring);
      id = cJSON_GetArrayItem(split, 0);
      attr = cJSON_GetArrayItem(split, 1);
    }
    if (!cJSON_IsString(id) || !cJSON_IsString(attr)) {
      cJSON_Delete(split);
      sam_fail(c, path, "cannot resolve !GetAtt: expected LogicalId.Attribute");
      return false;
    }
    snprintf(ga_shown, sizeof(ga_shown), "!GetAtt %.120s.%.120s", id->valuestring, attr->valuestring);
    ok = sam_getatt(c, id->valuestring, attr->valuestring, path, ga_shown, out);
    cJSON_Delete(split);
    return ok;
  }
  if (!strcmp(fn, "Fn::Sub"))
    return sam_sub(c, arg, path, out);
  if (!strcmp(fn, "Fn::If")) {
    const cJSON *name = n == 3 ? cJSON_GetArrayItem(arg, 0) : NULL;
    if (!cJSON_IsString(name)) {
      sam_fail(c, path, "cannot resolve !If: expected [ConditionName, value if true, value if false]");
      return false;
    }
    if (!sam_condition(c, name->valuestring, path, &b))
      return false;
    return sam_resolve(c, cJSON_GetArrayItem(arg, b ? 1 : 2), path, out);
  }
  if (!strcmp(fn, "Condition")) {
    if (!cJSON_IsString(arg)) {
      sam_fail(c, path, "cannot resolve !Condition: expected a condition name");
      return false;
    }
    if (!sam_condition(c, arg->valuestring, path, &b))
      return false;
    return (*out = cJSON_CreateBool(b)) != NULL;
  }
  if (!strcmp(fn, "Fn::Equals")) {
    char *x = NULL, *y = NULL;
    bool ok;
    if (n != 2) {
      sam_fail(c, path, "cannot resolve !Equals: expected [value, value]");
      return false;
    }
    ok = sam_resolve_text(c, cJSON_GetArrayItem(arg, 0), path, shown, &x) &&
         sam_resolve_text(c, cJSON_GetArrayItem(arg, 1), path, shown, &y);
    if (ok)
      *out = cJSON_CreateBool(!strcmp(x, y));
    free(x);
    free(y);
    return ok && *out;
  }
  if (!strcmp(fn, "Fn::Not")) {
    if (n != 1) {
      sam_fail(c, path, "cannot resolve !Not: expected [condition]");
      return false;
    }
    if (!sam_resolve_bool(c, arg->child, path, shown, &b))
      return false;
    return (*out = cJSON_CreateBool(!b)) != NULL;
  }
  if (!strcmp(fn, "Fn::And") || !strcmp(fn, "Fn::Or")) {
    bool and = !strcmp(fn, "Fn::And"), acc = and;
    const cJSON *it;
    if (n < 1) {
      sam_fail(c, path, "cannot resolve %s: expected a list of conditions", shown);
      return false;
    }
    cJSON_ArrayForEach(it, arg) {
      if (!sam_resolve_bool(c, it, path, shown, &b))
        return false;
      acc = and ? acc && b : acc || b;
    }
    return (*out = cJSON_CreateBool(acc)) != NULL;
  }
  if (!strcmp(fn, "Fn::Join") || !strcmp(fn, "Fn::Select") || !strcmp(fn, "Fn::Split") ||
      !strcmp(fn, "Fn::FindInMap")) {
    cJSON *args = NULL, *r = NULL;
    const cJSON *it;
    bool ok = false;
    if (n < 2 || !sam_resolve(c, arg, path, &args) || !cJSON_IsArray(args)) {
      if (!c->loc.message)
        sam_fail(c, path, "cannot resolve %s: expected a list of arguments", shown);
      cJSON_Delete(args);
      return false;
    }
    if (!strcmp(fn, "Fn::Join")) {
      const cJSON *d = cJSON_GetArrayItem(args, 0), *list = cJSON_GetArrayItem(args, 1);
      char *acc = util_strdup("");
      if (cJSON_IsString(d) && cJSON_IsArray(list)) {
        ok = true;
        cJSON_ArrayForEach(it, list) {
          char *t = sam_text(it), *next;
          if (!t || !acc) {
            free(t);
            ok = false;
            break;
          }
          next = util_asprintf("%s%s%s", acc, it == list->child ? "" : d->valuestring, t);
          free(t);
          free(acc);
          acc = next;
        }
      }
      if (ok && acc)
        r = cJSON_CreateString(acc);
      free(acc);
    } else if (!strcmp(fn, "Fn::Select")) {
      char *t = sam_text(cJSON_GetArrayItem(args, 0));
      const cJSON *list = cJSON_GetArrayItem(args, 1);
      char *end = NULL;
      long i = t ? strtol(t, &end, 10) : -1;
      if (t && !*end && cJSON_IsArray(list) && i >= 0 && i < cJSON_GetArraySize(list))
        r = cJSON_Duplicate(cJSON_GetArrayItem(list, (int)i), true);
      free(t);
    } else if (!strcmp(fn, "Fn::Split")) {
      const cJSON *d = cJSON_GetArrayItem(args, 0), *str = cJSON_GetArrayItem(args, 1);
      if (cJSON_IsString(d) && d->valuestring[0] && cJSON_IsString(str)) {
        const char *p = str->valuestring, *q;
        size_t dl = strlen(d->valuestring);
        r = cJSON_CreateArray();
        while (r && (q = strstr(p, d->valuestring)) != NULL) {
          char *piece = strndup(p, (size_t)(q - p));
          cJSON_AddItemToArray(r, cJSON_CreateString(piece ? piece : ""));
          free(piece);
          p = q + dl;
        }
        if (r)
          cJSON_AddItemToArray(r, cJSON_CreateString(p));
      }
    } else if (n == 3) { /* FindInMap */
      char *m = sam_text(cJSON_GetArrayItem(args, 0)), *k1 = sam_text(cJSON_GetArrayItem(args, 1));
      char *k2 = sam_text(cJSON_GetArrayItem(args, 2));
      const cJSON *hit = m && k1 && k2 ? cJSON_GetObjectItemCaseSensitive(c->mappings, m) : NULL;
      hit = hit ? cJSON_GetObjectItemCaseSensitive(hit, k1) : NULL;
      hit = hit ? cJSON_GetObjectItemCaseSensitive(hit, k2) : NULL;
      if (hit)
        r = cJSON_Duplicate(hit, true);
      else
        sam_fail(c, path, "cannot resolve !FindInMap: no Mappings.%s.%s.%s", m ? m : "?", k1 ? k1 : "?",
                 k2 ? k2 : "?");
      free(m);
      free(k1);
      free(k2);
    }
    cJSON_Delete(args);
    if (!r) {
      sam_fail(c, path, "cannot resolve %s: its arguments are not of the expected shape", shown);
      return false;
    }
    *out = r;
    return true;
  }
  sam_fail(c, path, "cannot resolve %s: lemu does not evaluate it (its value is only known once "
           "deployed); give a literal value", shown);
  return false;
}

/* Resolve every intrinsic in v into *out (a new tree). *out is NULL when v is !Ref AWS::NoValue;
 * members and elements that are AWS::NoValue are dropped. */
static bool sam_resolve(struct sam_ctx *c, const cJSON *v, const char *path, cJSON **out)
{
  const char *fn = sam_intrinsic(v);
  bool ok = true;

  *out = NULL;
  if (++c->depth > SAM_MAX_DEPTH) {
    sam_fail(c, path, "intrinsic functions nested more than %d deep (or a reference cycle)", SAM_MAX_DEPTH);
    c->depth--;
    return false;
  }
  if (fn) {
    ok = sam_fn(c, fn, v->child, path, out);
  } else if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
    const cJSON *it;
    *out = cJSON_IsObject(v) ? cJSON_CreateObject() : cJSON_CreateArray();
    ok = *out != NULL;
    cJSON_ArrayForEach(it, v) {
      cJSON *r = NULL;
      char *sub = it->string ? sam_path(path, it->string) : util_strdup(path);
      ok = ok && sam_resolve(c, it, sub ? sub : path, &r);
      free(sub);
      if (!ok)
        break;
      if (r && it->string)
        cJSON_AddItemToObject(*out, it->string, r);
      else if (r)
        cJSON_AddItemToArray(*out, r);
    }
    if (!ok) {
      cJSON_Delete(*out);
      *out = NULL;
    }
  } else {
    *out = cJSON_Duplicate(v, true);
    ok = *out != NULL;
  }
  c->depth--;
  return ok;
}

/* ------------------------------------------------------------------------------------------ */
/* functions */

/* Globals.Function under a function's Properties: maps merge (the function's keys win), lists
 * concatenate, anything else is the function's. */
static cJSON *sam_merge(const cJSON *g, const cJSON *r)
{
  cJSON *out;
  const cJSON *it;

  if (!g || !r)
    return cJSON_Duplicate(g ? g : r, true);
  if (cJSON_IsObject(g) && cJSON_IsObject(r) && !sam_intrinsic(g) && !sam_intrinsic(r)) {
    out = cJSON_Duplicate(g, true);
    cJSON_ArrayForEach(it, r) {
      cJSON *m = sam_merge(cJSON_GetObjectItemCaseSensitive(out, it->string), it);
      if (cJSON_GetObjectItemCaseSensitive(out, it->string))
        cJSON_ReplaceItemInObjectCaseSensitive(out, it->string, m);
      else
        cJSON_AddItemToObject(out, it->string, m);
    }
    return out;
  }
  if (cJSON_IsArray(g) && cJSON_IsArray(r)) {
    out = cJSON_Duplicate(g, true);
    cJSON_ArrayForEach(it, r)
      cJSON_AddItemToArray(out, cJSON_Duplicate(it, true));
    return out;
  }
  return cJSON_Duplicate(r, true);
}

/* CloudFormation takes "10" where an integer is wanted. */
static void sam_coerce_int(cJSON *v)
{
  char *end;
  long long n;

  if (!cJSON_IsString(v) || !v->valuestring[0])
    return;
  errno = 0;
  n = strtoll(v->valuestring, &end, 10);
  if (*end || errno || n < INT_MIN || n > INT_MAX)
    return;
  v->type = cJSON_Number; /* valuestring keeps the text, freed with the item */
  v->valuedouble = (double)n;
  v->valueint = (int)n;
}

/* Environment variable values: numbers and booleans become their source text. */
static void sam_coerce_string(cJSON *v)
{
  char *t;

  if (!cJSON_IsNumber(v) && !cJSON_IsBool(v))
    return;
  t = sam_text(v);
  if (!t)
    return;
  free(v->valuestring);
  v->valuestring = t;
  v->type = cJSON_String;
}

/* Resolve props[key] into entry[as] (nothing when absent or AWS::NoValue). */
static bool sam_copy(struct sam_ctx *c, const cJSON *props, const char *key, const char *as,
                     const char *path, cJSON *entry, cJSON **copied)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(props, key);
  cJSON *r = NULL;
  char *p;
  bool ok;

  if (copied)
    *copied = NULL;
  if (!v)
    return true;
  p = sam_path(path, key);
  ok = sam_resolve(c, v, p, &r);
  free(p);
  if (ok && r) {
    cJSON_AddItemToObject(entry, as, r);
    if (copied)
      *copied = r;
  }
  return ok;
}

static bool sam_mkdirs(char *dir)
{
  char *p;

  for (p = dir + 1; *p; p++)
    if (*p == '/') {
      *p = '\0';
      if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        *p = '/';
        return false;
      }
      *p = '/';
    }
  return mkdir(dir, 0700) == 0 || errno == EEXIST;
}

/* Inline code (InlineCode, Code.ZipFile) into <scratch>/sam-inline/<name>/<module>.py|.js, the
 * file CloudFormation would make (index.py / index.js for Handler index.handler). */
static bool sam_inline(struct sam_ctx *c, const struct sam_opts *opts, cJSON *entry, const char *code,
                       const char *path)
{
  const cJSON *rt = cJSON_GetObjectItemCaseSensitive(entry, "Runtime");
  const cJSON *h = cJSON_GetObjectItemCaseSensitive(entry, "Handler");
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(entry, "FunctionName");
  enum runtime_kind kind;
  const char *dot, *ext;
  char *dir = NULL, *file = NULL, *module = NULL, *tmp = NULL;
  FILE *f;
  bool ok = false;

  if (!cJSON_IsString(rt) || !config_runtime_kind(rt->valuestring, &kind) || kind == RUNTIME_PROVIDED) {
    sam_fail(c, path, "expected inline code only with a python3.x or nodejs runtime (CloudFormation's "
             "rule), got Runtime %s", cJSON_IsString(rt) ? rt->valuestring : "(none)");
    return false;
  }
  ext = kind == RUNTIME_PYTHON ? ".py" : ".js";
  if (!cJSON_IsString(h) || !(dot = strrchr(h->valuestring, '.')) || dot == h->valuestring ||
      strchr(h->valuestring, '/')) {
    sam_fail(c, path, "expected a Handler such as index.handler with inline code");
    return false;
  }
  module = strndup(h->valuestring, (size_t)(dot - h->valuestring));
  if (opts->scratch_dir && opts->scratch_dir[0])
    dir = util_asprintf("%s/%s/%s", opts->scratch_dir, SAM_INLINE_SUBDIR, name->valuestring);
  else
    dir = util_asprintf("%s/lemu-%u/%s/%s", getenv("TMPDIR") && getenv("TMPDIR")[0] == '/' ? getenv("TMPDIR") : "/tmp",
                        (unsigned)getuid(), SAM_INLINE_SUBDIR, name->valuestring);
  if (!module || !dir)
    goto out;
  file = util_asprintf("%s/%s%s", dir, module, ext);
  tmp = util_asprintf("%s.tmp", file ? file : "");
  if (!file || !tmp)
    goto out;
  if (!sam_mkdirs(dir) || !(f = fopen(tmp, "w"))) {
    sam_fail(c, path, "cannot write the inline code to %s: %s", dir, strerror(errno));
    goto out;
  }
  ok = fputs(code, f) >= 0;
  ok = fclose(f) == 0 && ok;
  if (!ok || rename(tmp, file) != 0) {
    sam_fail(c, path, "cannot write the inline code to %s: %s", file, strerror(errno));
    ok = false;
    goto out;
  }
  cJSON_AddItemToObject(entry, "CodeUri", cJSON_CreateString(dir));
out:
  if (!ok && !c->loc.message)
    sam_fail(c, path, "out of memory");
  free(tmp);
  free(file);
  free(dir);
  free(module);
  return ok;
}

static bool sam_code(struct sam_ctx *c, const struct sam_opts *opts, const cJSON *props, bool serverless,
                     const char *path, cJSON *entry)
{
  const char *key = serverless ? (cJSON_GetObjectItemCaseSensitive(props, "InlineCode") ? "InlineCode" : "CodeUri")
                               : "Code";
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(props, key);
  cJSON *r = NULL;
  char *p = sam_path(path, key);
  bool ok = false;

  if (!v) {
    sam_fail(c, path, serverless ? "CodeUri: missing (or InlineCode): lemu runs code from a local folder"
                                 : "Code: missing: expected {ZipFile: ...} or a local folder path");
    goto out;
  }
  if (!sam_resolve(c, v, p, &r))
    goto out;
  if (!serverless && cJSON_IsObject(r) && cJSON_GetObjectItemCaseSensitive(r, "ZipFile")) {
    const cJSON *z = cJSON_GetObjectItemCaseSensitive(r, "ZipFile");
    char *zp = sam_path(p, "ZipFile");
    if (!cJSON_IsString(z))
      sam_fail(c, zp, "expected the function's source code as a string");
    else
      ok = sam_inline(c, opts, entry, z->valuestring, zp);
    free(zp);
    goto out;
  }
  if (!strcmp(key, "InlineCode")) {
    if (!cJSON_IsString(r))
      sam_fail(c, p, "expected the function's source code as a string");
    else
      ok = sam_inline(c, opts, entry, r->valuestring, p);
    goto out;
  }
  if (cJSON_IsObject(r) || (cJSON_IsString(r) && !strncmp(r->valuestring, "s3://", 5))) {
    sam_fail(c, p, "expected a local folder (relative to the template), got an S3 location: lemu "
             "cannot fetch code from S3; point %s at the source folder (as before `sam package`)", key);
    goto out;
  }
  if (!cJSON_IsString(r)) {
    sam_fail(c, p, "expected a local folder path");
    goto out;
  }
  cJSON_AddItemToObject(entry, "CodeUri", r);
  r = NULL;
  ok = true;
out:
  cJSON_Delete(r);
  free(p);
  return ok;
}

/* Events: Api and HttpApi are kept (Path, Method, PayloadFormatVersion, TimeoutInMillis) for the
 * API Gateway front; other sources (S3, SQS, Schedule, ...) are not emulated and are skipped. */
static bool sam_events(struct sam_ctx *c, const char *id, const cJSON *props, const char *path, cJSON *entry)
{
  static const char *const keep[] = {"Path", "Method", "PayloadFormatVersion", "TimeoutInMillis", NULL};
  const cJSON *evs = cJSON_GetObjectItemCaseSensitive(props, "Events"), *ev;
  char *p = sam_path(path, "Events");
  cJSON *out = NULL;
  bool ok = false;

  if (!evs) {
    free(p);
    return true;
  }
  if (!cJSON_IsObject(evs)) {
    sam_fail(c, p, "expected a map of events");
    goto out;
  }
  out = cJSON_CreateObject();
  cJSON_ArrayForEach(ev, evs) {
    char *ep = sam_path(p, ev->string);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "Type"), *pr;
    cJSON *r = NULL, *kept;
    size_t i;
    bool good = sam_resolve(c, type, ep, &r);
    if (good && (!cJSON_IsString(r) || (strcmp(r->valuestring, "Api") && strcmp(r->valuestring, "HttpApi")))) {
      if (!cJSON_IsString(r)) {
        sam_fail(c, ep, "Type: expected an event source type such as Api");
        good = false;
      } else {
        logs_info("%s: %s event %s of %s is not emulated; ignored", c->loc.file, r->valuestring, ev->string, id);
        cJSON_Delete(r);
        free(ep);
        continue;
      }
    }
    if (!good) {
      cJSON_Delete(r);
      free(ep);
      goto out;
    }
    kept = cJSON_CreateObject();
    cJSON_AddItemToObject(kept, "Type", r);
    pr = cJSON_GetObjectItemCaseSensitive(ev, "Properties");
    if (pr) {
      cJSON *rp = cJSON_CreateObject(), *copied;
      char *pp = sam_path(ep, "Properties");
      cJSON_AddItemToObject(kept, "Properties", rp);
      for (i = 0; good && keep[i]; i++) {
        good = sam_copy(c, pr, keep[i], keep[i], pp, rp, &copied);
        if (good && copied && !strcmp(keep[i], "TimeoutInMillis"))
          sam_coerce_int(copied);
      }
      free(pp);
    }
    cJSON_AddItemToObject(out, ev->string, kept);
    free(ep);
    if (!good)
      goto out;
  }
  if (out->child) {
    cJSON_AddItemToObject(entry, "Events", out);
    out = NULL;
  }
  ok = true;
out:
  cJSON_Delete(out);
  free(p);
  return ok;
}

/* SAM's EventInvokeConfig / AWS::Lambda::EventInvokeConfig properties into lemu's shape:
 * DestinationConfig.OnX.{Type, Destination} -> OnX.Destination; a SAM destination of Type SQS or
 * SNS without Destination is the queue or topic SAM would create. */
static bool sam_eic(struct sam_ctx *c, const char *id, const cJSON *eic, const char *path, cJSON **out)
{
  static const char *const which[] = {"OnSuccess", "OnFailure", NULL};
  cJSON *r = NULL, *d, *copied;
  size_t i;

  *out = NULL;
  if (!sam_resolve(c, eic, path, &r))
    return false;
  if (!cJSON_IsObject(r)) {
    *out = r; /* config.c says what is wrong */
    return true;
  }
  cJSON_DeleteItemFromObjectCaseSensitive(r, "Qualifier");
  cJSON_DeleteItemFromObjectCaseSensitive(r, "FunctionName");
  if ((copied = cJSON_GetObjectItemCaseSensitive(r, "MaximumRetryAttempts")))
    sam_coerce_int(copied);
  if ((copied = cJSON_GetObjectItemCaseSensitive(r, "MaximumEventAgeInSeconds")))
    sam_coerce_int(copied);
  d = cJSON_GetObjectItemCaseSensitive(r, "DestinationConfig");
  for (i = 0; cJSON_IsObject(d) && which[i]; i++) {
    cJSON *w = cJSON_GetObjectItemCaseSensitive(d, which[i]);
    cJSON *type = w ? cJSON_GetObjectItemCaseSensitive(w, "Type") : NULL;
    if (!cJSON_IsObject(w) || !type)
      continue;
    if (!cJSON_GetObjectItemCaseSensitive(w, "Destination")) {
      char *arn = NULL;
      if (cJSON_IsString(type) && !strcmp(type->valuestring, "SQS"))
        arn = util_asprintf("arn:%s:sqs:%s:%s:%sEventInvokeConfig%sQueue", c->partition, c->region,
                            c->account, id, which[i]);
      else if (cJSON_IsString(type) && !strcmp(type->valuestring, "SNS"))
        arn = util_asprintf("arn:%s:sns:%s:%s:%sEventInvokeConfig%sTopic", c->partition, c->region,
                            c->account, id, which[i]);
      if (!arn) {
        char *dp = util_asprintf("%s.DestinationConfig.%s.Destination", path, which[i]);
        sam_fail(c, dp, "missing: SAM creates a destination only for Type SQS or SNS");
        free(dp);
        cJSON_Delete(r);
        return false;
      }
      cJSON_AddItemToObject(w, "Destination", cJSON_CreateString(arn));
      free(arn);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(w, "Type");
  }
  *out = r;
  return true;
}

/* DeadLetterQueue {Type: SQS|SNS, TargetArn} (SAM) -> DeadLetterConfig {TargetArn}. */
static bool sam_dlq(struct sam_ctx *c, const cJSON *props, const char *path, cJSON *entry)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(props, "DeadLetterQueue"), *t, *type;
  char *p;
  cJSON *r = NULL, *dlc;
  bool ok = false;

  if (!v)
    return true;
  p = sam_path(path, "DeadLetterQueue");
  if (!sam_resolve(c, v, p, &r))
    goto out;
  if (!r) {
    ok = true;
    goto out;
  }
  type = cJSON_GetObjectItemCaseSensitive(r, "Type");
  t = cJSON_GetObjectItemCaseSensitive(r, "TargetArn");
  if (!cJSON_IsObject(r) || !cJSON_IsString(type) ||
      (strcmp(type->valuestring, "SQS") && strcmp(type->valuestring, "SNS"))) {
    sam_fail(c, p, "expected {Type: SQS or SNS, TargetArn: arn}");
    goto out;
  }
  if (!cJSON_IsString(t) || strncmp(t->valuestring, "arn:", 4)) {
    char *tp = sam_path(p, "TargetArn");
    sam_fail(c, tp, "expected the ARN of an SQS queue or SNS topic (e.g. !GetAtt Queue.Arn)");
    free(tp);
    goto out;
  }
  dlc = cJSON_CreateObject();
  cJSON_AddItemToObject(dlc, "TargetArn", cJSON_CreateString(t->valuestring));
  cJSON_AddItemToObject(entry, "DeadLetterConfig", dlc);
  ok = true;
out:
  cJSON_Delete(r);
  free(p);
  return ok;
}

static bool sam_function(struct sam_ctx *c, const struct sam_opts *opts, const char *id, const cJSON *res,
                         bool serverless, cJSON *functions)
{
  static const char *const plain[] = {"Runtime", "Handler", "Description", "Timeout", "MemorySize",
                                      "ReservedConcurrentExecutions", "Architectures", "EphemeralStorage",
                                      "Environment", NULL};
  const cJSON *raw = cJSON_GetObjectItemCaseSensitive(res, "Properties"), *gf, *v;
  cJSON *props = NULL, *entry = cJSON_CreateObject(), *copied, *r = NULL;
  char *path = util_asprintf("Resources.%s.Properties", id), *name = NULL, *p = NULL;
  size_t i;
  bool ok = false;

  if (!entry || !path)
    goto out;
  if (raw && !cJSON_IsObject(raw)) {
    sam_fail(c, path, "expected a map of properties");
    goto out;
  }
  gf = serverless && c->globals ? cJSON_GetObjectItemCaseSensitive(c->globals, "Function") : NULL;
  props = gf ? sam_merge(gf, raw) : cJSON_Duplicate(raw, true);
  if (!props)
    props = cJSON_CreateObject();
  if (!(name = sam_physical_name(c, id, res, "FunctionName")))
    goto out;
  cJSON_AddItemToObject(entry, "FunctionName", cJSON_CreateString(name));
  for (i = 0; plain[i]; i++)
    if (!sam_copy(c, props, plain[i], plain[i], path, entry, &copied))
      goto out;
  for (i = 0; i < 3; i++)
    sam_coerce_int(cJSON_GetObjectItemCaseSensitive(entry, (const char *[]){"Timeout", "MemorySize",
                                                                           "ReservedConcurrentExecutions"}[i]));
  if ((v = cJSON_GetObjectItemCaseSensitive(entry, "EphemeralStorage")))
    sam_coerce_int(cJSON_GetObjectItemCaseSensitive(v, "Size"));
  if ((v = cJSON_GetObjectItemCaseSensitive(entry, "Environment")) &&
      (v = cJSON_GetObjectItemCaseSensitive(v, "Variables")) && cJSON_IsObject(v)) {
    cJSON *it;
    for (it = v->child; it; it = it->next)
      sam_coerce_string(it);
  }
  if ((v = cJSON_GetObjectItemCaseSensitive(props, "PackageType"))) {
    p = sam_path(path, "PackageType");
    if (!sam_resolve(c, v, p, &r))
      goto out;
    if (!cJSON_IsString(r) || strcmp(r->valuestring, "Zip")) {
      sam_fail(c, p, "expected Zip: lemu runs code from a folder, not container images");
      goto out;
    }
  }
  if (!sam_code(c, opts, props, serverless, path, entry))
    goto out;
  if (serverless) {
    if (!sam_events(c, id, props, path, entry) || !sam_dlq(c, props, path, entry))
      goto out;
    if ((v = cJSON_GetObjectItemCaseSensitive(props, "EventInvokeConfig"))) {
      cJSON *eic;
      free(p);
      p = sam_path(path, "EventInvokeConfig");
      if (!sam_eic(c, id, v, p, &eic))
        goto out;
      if (eic)
        cJSON_AddItemToObject(entry, "EventInvokeConfig", eic);
    }
  } else if (!sam_copy(c, props, "DeadLetterConfig", "DeadLetterConfig", path, entry, NULL)) {
    goto out;
  }
  cJSON_AddItemToObject(functions, path, entry);
  entry = NULL;
  ok = true;
out:
  cJSON_Delete(r);
  cJSON_Delete(entry);
  cJSON_Delete(props);
  free(name);
  free(path);
  free(p);
  return ok;
}

/* AWS::Lambda::EventInvokeConfig resources, attached to the function their FunctionName names. */
static bool sam_eic_resource(struct sam_ctx *c, const char *id, const cJSON *res, cJSON *functions)
{
  const cJSON *props = cJSON_GetObjectItemCaseSensitive(res, "Properties"), *fnv;
  char *path = util_asprintf("Resources.%s.Properties", id), *p = NULL, *fname = NULL;
  cJSON *eic = NULL, *it;
  bool ok = false;

  fnv = props ? cJSON_GetObjectItemCaseSensitive(props, "FunctionName") : NULL;
  p = sam_path(path, "FunctionName");
  if (!fnv) {
    sam_fail(c, p, "missing (required)");
    goto out;
  }
  if (!sam_resolve_text(c, fnv, p, "FunctionName", &fname))
    goto out;
  cJSON_ArrayForEach(it, functions) {
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "FunctionName");
    if (cJSON_IsString(n) && !strcmp(n->valuestring, fname))
      break;
  }
  if (!it) {
    sam_fail(c, p, "expected the name of a function in this template, got \"%s\"", fname);
    goto out;
  }
  if (cJSON_GetObjectItemCaseSensitive(it, "EventInvokeConfig")) {
    sam_fail(c, path, "function %s already has an EventInvokeConfig", fname);
    goto out;
  }
  if (!sam_eic(c, id, props, path, &eic))
    goto out;
  cJSON_AddItemToObject(it, "EventInvokeConfig", eic);
  ok = true;
out:
  free(fname);
  free(p);
  free(path);
  return ok;
}

/* --parameter-overrides words into c->overrides. */
static bool sam_overrides(struct sam_ctx *c, const struct sam_opts *opts)
{
  size_t i;

  for (i = 0; i < opts->n_overrides; i++) {
    char *copy = util_strdup(opts->overrides[i]), *save = NULL, *tok;
    if (!copy)
      return false;
    for (tok = strtok_r(copy, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
      char *k = tok, *val, *eq;
      if (!strncmp(tok, "ParameterKey=", 13) && (val = strstr(tok, ",ParameterValue="))) {
        k = tok + 13;
        *val = '\0';
        val += 16;
      } else if ((eq = strchr(tok, '=')) && eq != tok) {
        *eq = '\0';
        val = eq + 1;
      } else {
        sam_fail(c, NULL, "--parameter-overrides: expected Name=Value or "
                 "ParameterKey=Name,ParameterValue=Value, got \"%s\"", tok);
        free(copy);
        return false;
      }
      if (!cJSON_GetObjectItemCaseSensitive(c->parameters, k)) {
        sam_fail(c, NULL, "--parameter-overrides: expected the name of one of the template's "
                 "Parameters, got \"%s\"", k);
        free(copy);
        return false;
      }
      cJSON_DeleteItemFromObjectCaseSensitive(c->overrides, k);
      cJSON_AddItemToObject(c->overrides, k, cJSON_CreateString(val));
    }
    free(copy);
  }
  return true;
}

static bool sam_section(struct sam_ctx *c, const char *key, const cJSON **out)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->root, key);

  *out = v;
  if (v && !cJSON_IsObject(v)) {
    sam_fail(c, key, "expected a map");
    return false;
  }
  return true;
}

static bool sam_build(struct sam_ctx *c, const struct sam_opts *opts, cJSON *functions)
{
  const cJSON *res;
  int pass;

  if (!cJSON_IsObject(c->root)) {
    sam_fail(c, NULL, "expected a template (a map with Resources) at the top level");
    return false;
  }
  if (!sam_section(c, "Resources", &c->resources) || !sam_section(c, "Parameters", &c->parameters) ||
      !sam_section(c, "Conditions", &c->conditions) || !sam_section(c, "Mappings", &c->mappings) ||
      !sam_section(c, "Globals", &c->globals) || !sam_overrides(c, opts))
    return false;
  if (!c->resources) {
    sam_fail(c, "Resources", "missing (required)");
    return false;
  }
  for (pass = 0; pass < 2; pass++)
    cJSON_ArrayForEach(res, c->resources) {
      const cJSON *t = cJSON_GetObjectItemCaseSensitive(res, "Type");
      const cJSON *cond = cJSON_GetObjectItemCaseSensitive(res, "Condition");
      bool fn, on = true;
      if (!cJSON_IsObject(res) || !cJSON_IsString(t)) {
        char *p = sam_path("Resources", res->string);
        sam_fail(c, p, "expected a resource with a Type");
        free(p);
        return false;
      }
      fn = !strcmp(t->valuestring, SAM_TYPE_SERVERLESS) || !strcmp(t->valuestring, SAM_TYPE_LAMBDA);
      if (pass == 0 ? !fn : strcmp(t->valuestring, SAM_TYPE_EIC))
        continue;
      if (cond) {
        char *p = util_asprintf("Resources.%s.Condition", res->string);
        bool good = cJSON_IsString(cond) && sam_condition(c, cond->valuestring, p, &on);
        if (!cJSON_IsString(cond))
          sam_fail(c, p, "expected the name of a condition");
        free(p);
        if (!good)
          return false;
      }
      if (!on)
        continue;
      if (pass == 0 && !sam_function(c, opts, res->string, res, !strcmp(t->valuestring, SAM_TYPE_SERVERLESS),
                                     functions))
        return false;
      if (pass == 1 && !sam_eic_resource(c, res->string, res, functions))
        return false;
    }
  if (!functions->child) {
    sam_fail(c, "Resources", "expected at least one AWS::Serverless::Function or AWS::Lambda::Function");
    return false;
  }
  return true;
}

lemu_err_t sam_load(const char *path, const struct sam_opts *opts, struct lemu_config *cfg, char **message)
{
  struct sam_ctx c = {.loc.file = path};
  cJSON *functions = cJSON_CreateObject();
  char resolved[PATH_MAX], *slash;
  lemu_err_t rc = LEMU_ERR_CONFIG;

  *message = NULL;
  c.region = cfg->region;
  c.account = cfg->account_id;
  c.stack = opts->stack_name ? opts->stack_name : SAM_DEFAULT_STACK;
  snprintf(c.partition, sizeof(c.partition), "%s",
           !strncmp(c.region, "cn-", 3) ? "aws-cn" : !strncmp(c.region, "us-gov-", 7) ? "aws-us-gov" : "aws");
  c.overrides = cJSON_CreateObject();
  c.param_values = cJSON_CreateObject();
  c.cond_values = cJSON_CreateObject();
  if (!functions || !c.overrides || !c.param_values || !c.cond_values) {
    sam_fail(&c, NULL, "out of memory");
    goto out;
  }
  if (!(c.root = sam_parse_file(&c, path)) || !sam_build(&c, opts, functions))
    goto out;
  if (realpath(path, resolved) && (slash = strrchr(resolved, '/')))
    *slash = '\0';
  else
    snprintf(resolved, sizeof(resolved), ".");
  rc = config_load_functions_json(functions, path, resolved, cfg, message);
out:
  if (rc != LEMU_ERR_OK && !*message)
    *message = c.loc.message ? c.loc.message : util_strdup("invalid template");
  else
    free(c.loc.message);
  cJSON_Delete(functions);
  cJSON_Delete(c.root);
  cJSON_Delete(c.overrides);
  cJSON_Delete(c.param_values);
  cJSON_Delete(c.cond_values);
  return rc;
}
