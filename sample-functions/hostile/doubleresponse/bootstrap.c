/*
 * hostile-doubleresponse: answers each invocation with /response {"first": true}, then posts
 * /response {"second": true} and /error for the same request id again. The caller must get the
 * first answer; the extra posts must be refused with 403 InvalidStateTransition. The statuses
 * and bodies of those extra posts are printed to stdout and kept: an invoke with the event
 * {"report": true} returns them (for the previous invocation) instead of answering twice.
 */
#define _GNU_SOURCE
#include "../rapi.h"

#define NAME "hostile-doubleresponse"

static void post(char **out, size_t *len, size_t *cap, const char *label, const char *id,
                 const char *kind)
{
  char path[256];
  struct rapi_resp r;
  const char *body = !strcmp(kind, "error")
                         ? "{\"errorMessage\":\"too late\",\"errorType\":\"Hostile.Late\"}"
                         : "{\"second\": true}";

  snprintf(path, sizeof(path), "/runtime/invocation/%s/%s", id, kind);
  rapi_request("POST", path, body, strlen(body),
               !strcmp(kind, "error") ? "Lambda-Runtime-Function-Error-Type: Hostile.Late\r\n" : NULL, &r);
  rapi_appendf(out, len, cap, "%s\"%s\": {\"status\": %d, \"body\": \"", *len > 1 ? ", " : "", label, r.status);
  rapi_append(out, len, cap, r.body, 1);
  rapi_append(out, len, cap, "\"}", 0);
  rapi_free(&r);
}

int main(void)
{
  char *report = NULL;

  signal(SIGPIPE, SIG_IGN);
  for (;;) {
    struct rapi_resp ev;
    size_t len = 0, cap = 0;
    int first;

    rapi_next(NAME, &ev);
    if (strstr(ev.body, "\"report\"")) {
      if (rapi_respond(ev.request_id, report ? report : "{}") != 202)
        rapi_die(NAME, "the report /response was refused");
      rapi_free(&ev);
      continue;
    }
    first = rapi_respond(ev.request_id, "{\"first\": true}");
    free(report);
    report = NULL;
    rapi_appendf(&report, &len, &cap, "{\"first_status\": %d", first);
    post(&report, &len, &cap, "second_response", ev.request_id, "response");
    post(&report, &len, &cap, "error_after_response", ev.request_id, "error");
    rapi_append(&report, &len, &cap, "}", 0);
    printf("extra posts: %s\n", report);
    fflush(stdout);
    rapi_free(&ev);
  }
}
