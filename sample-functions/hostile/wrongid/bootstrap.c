/*
 * hostile-wrongid: before answering each invocation it posts results for ids that are not the
 * invocation it runs: a made-up UUID (/response and /error), the current id in upper case, and
 * the id of the invocation before (on a warm environment). Each should be refused with
 * 400 {"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"} and must not end the
 * invocation. Then it answers for real with a JSON object: for each attempt its status and body.
 */
#define _GNU_SOURCE
#include <ctype.h>

#include "../rapi.h"

#define NAME "hostile-wrongid"
#define MADE_UP_ID "00000000-1111-4222-8333-444444444444"

static void attempt(char **out, size_t *len, size_t *cap, const char *label, const char *id,
                    const char *kind, int *first)
{
  char path[256];
  struct rapi_resp r;
  const char *body = !strcmp(kind, "error")
                         ? "{\"errorMessage\":\"not yours\",\"errorType\":\"Hostile.WrongId\"}"
                         : "{\"hijacked\": true}";

  snprintf(path, sizeof(path), "/runtime/invocation/%s/%s", id, kind);
  rapi_request("POST", path, body, strlen(body),
               !strcmp(kind, "error") ? "Lambda-Runtime-Function-Error-Type: Hostile.WrongId\r\n" : NULL, &r);
  rapi_appendf(out, len, cap, "%s\"%s\": {\"status\": %d, \"body\": \"", *first ? "" : ", ", label, r.status);
  rapi_append(out, len, cap, r.body, 1);
  rapi_append(out, len, cap, "\"}", 0);
  *first = 0;
  rapi_free(&r);
}

int main(void)
{
  char previous[128] = "";

  signal(SIGPIPE, SIG_IGN);
  for (;;) {
    struct rapi_resp ev;
    char upper[128], *out = NULL;
    size_t len = 0, cap = 0, i;
    int first = 1;

    rapi_next(NAME, &ev);
    for (i = 0; ev.request_id[i] && i + 1 < sizeof(upper); i++)
      upper[i] = (char)toupper((unsigned char)ev.request_id[i]);
    upper[i] = '\0';
    rapi_append(&out, &len, &cap, "{", 0);
    attempt(&out, &len, &cap, "made_up_response", MADE_UP_ID, "response", &first);
    attempt(&out, &len, &cap, "made_up_error", MADE_UP_ID, "error", &first);
    if (strcmp(upper, ev.request_id) != 0)
      attempt(&out, &len, &cap, "upper_case_response", upper, "response", &first);
    if (previous[0])
      attempt(&out, &len, &cap, "previous_response", previous, "response", &first);
    rapi_append(&out, &len, &cap, "}", 0);
    if (rapi_respond(ev.request_id, out) != 202)
      rapi_die(NAME, "the real /response was refused");
    snprintf(previous, sizeof(previous), "%s", ev.request_id);
    free(out);
    rapi_free(&ev);
  }
}
