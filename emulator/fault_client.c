/* The fault CLI (see include/lemu/fault_client.h): one HTTP/1.1 request over a plain socket to
 * the server's /lemu/v1 API (loopback only, no TLS), the JSON answer printed as it came. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lemu/api_control.h"
#include "lemu/buf.h"
#include "lemu/fault_client.h"
#include "lemu/util.h"

#define CLIENT_MAX_RESPONSE (16 * 1024 * 1024)
#define CLIENT_MAX_FILE (16 * 1024 * 1024)

static void client_usage(FILE *f)
{
  fprintf(f,
          "usage: lemu fault [--endpoint-url URL] add RULE_JSON\n"
          "       lemu fault [--endpoint-url URL] list\n"
          "       lemu fault [--endpoint-url URL] clear [ID]\n"
          "       lemu fault [--endpoint-url URL] import FIS_TEMPLATE.json [--seed N]\n"
          "\n"
          "A client of a running lemu's fault control API (/lemu/v1/faults); prints its JSON answer.\n"
          "\n"
          "  add RULE_JSON          add a rule; prints {\"Id\": ...}. A rule:\n"
          "                         {\"Function\": \"echo\" | \"*\", \"Fault\": KIND,\n"
          "                          \"When\": {\"Nth\": [2, 5]} | {\"Every\": 3} |\n"
          "                                  {\"Probability\": 0.25, \"Seed\": 7} | {\"Always\": true},\n"
          "                          \"Times\": N, \"Params\": {...}, \"Match\": [...]}\n"
          "                         KIND is one of `lemu faults-doc` (throttle, timeout, oom, ...)\n"
          "  list                   the rules in force, with their Id and Fired count\n"
          "  clear [ID]             remove rule ID, or every rule\n"
          "  import FILE            add the aws:lambda:* actions of an AWS FIS experiment template\n"
          "  --seed N               (import) seed for invocationPercentage draws (default 0)\n"
          "  --endpoint-url URL     the lemu to talk to (default $LEMU_URL, else %s)\n"
          "  -h, --help             this help\n"
          "\n"
          "environment: LEMU_CONTROL_TOKEN, the control token of a lemu serve started with one\n"
          "(sent as \"Authorization: Bearer TOKEN\"); LEMU_URL.\n",
          FAULT_CLIENT_DEFAULT_URL);
}

/* Parse "http://HOST:PORT" (IPv4 only: lemu listens on loopback). */
static int parse_url(const char *url, struct sockaddr_in *addr)
{
  char host[64];
  const char *p = url, *colon;
  long port = 80;

  if (strncmp(p, "http://", 7) == 0)
    p += 7;
  colon = strchr(p, ':');
  if (!colon || (size_t)(colon - p) >= sizeof(host))
    return -1;
  memcpy(host, p, (size_t)(colon - p));
  host[colon - p] = '\0';
  port = strtol(colon + 1, NULL, 10);
  memset(addr, 0, sizeof(*addr));
  addr->sin_family = AF_INET;
  addr->sin_port = htons((uint16_t)port);
  if (!strcmp(host, "localhost"))
    snprintf(host, sizeof(host), "127.0.0.1");
  return inet_pton(AF_INET, host, &addr->sin_addr) == 1 && port > 0 && port < 65536 ? 0 : -1;
}

static int write_all(int fd, const char *p, size_t n)
{
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Send one request; print the body; exit status 0 for 2xx. With $LEMU_CONTROL_TOKEN set, the
 * request carries it (Authorization: Bearer); it is never printed. */
static int request(const char *url, const char *method, const char *path, const char *body)
{
  const char *token = getenv(API_CONTROL_TOKEN_ENV);
  struct sockaddr_in addr;
  struct buf resp;
  char *head, *auth = NULL, chunk[8192];
  int fd, status = 0;
  ssize_t r;
  const char *sep;

  if (parse_url(url, &addr) != 0) {
    fprintf(stderr, "lemu: --endpoint-url: expected http://HOST:PORT, got \"%s\"\n", url);
    return 2;
  }
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
    fprintf(stderr, "lemu: cannot connect to %s: %s (is `lemu serve` running?)\n", url, strerror(errno));
    if (fd >= 0)
      close(fd);
    return 1;
  }
  if (token && *token) {
    if (strpbrk(token, "\r\n")) {
      fprintf(stderr, "lemu: %s: a token cannot hold a line break\n", API_CONTROL_TOKEN_ENV);
      close(fd);
      return 2;
    }
    auth = util_asprintf("%s: %s %s\r\n", API_CONTROL_AUTH_HEADER, API_CONTROL_BEARER, token);
  }
  head = util_asprintf("%s %s HTTP/1.1\r\nHost: lemu\r\nConnection: close\r\n%s"
                       "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                       method, path, auth ? auth : "", body ? strlen(body) : 0);
  free(auth);
  if (!head || write_all(fd, head, strlen(head)) != 0 || (body && write_all(fd, body, strlen(body)) != 0)) {
    fprintf(stderr, "lemu: cannot send the request to %s\n", url);
    free(head);
    close(fd);
    return 1;
  }
  free(head);
  buf_init(&resp, CLIENT_MAX_RESPONSE);
  while ((r = read(fd, chunk, sizeof(chunk))) > 0)
    if (buf_append(&resp, chunk, (size_t)r) != LEMU_ERR_OK)
      break;
  close(fd);
  if (resp.len < 12 || sscanf(resp.data, "HTTP/1.%*c %d", &status) != 1) {
    fprintf(stderr, "lemu: no HTTP answer from %s\n", url);
    buf_cleanup(&resp);
    return 1;
  }
  sep = strstr(resp.data, "\r\n\r\n");
  if (sep && sep[4])
    printf("%s\n", sep + 4);
  buf_cleanup(&resp);
  return status >= 200 && status < 300 ? 0 : 1;
}

static char *read_whole_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  struct buf b;
  char chunk[8192];
  size_t n;

  if (!f)
    return NULL;
  buf_init(&b, CLIENT_MAX_FILE);
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    if (buf_append(&b, chunk, n) != LEMU_ERR_OK)
      break;
  fclose(f);
  return buf_take(&b, NULL);
}

int fault_client_main(int argc, char **argv)
{
  const char *url = getenv("LEMU_URL");
  int i = 0;

  if (!url || !*url)
    url = FAULT_CLIENT_DEFAULT_URL;
  if (i + 1 < argc && !strcmp(argv[i], "--endpoint-url")) {
    url = argv[i + 1];
    i += 2;
  }
  if (i < argc && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))) {
    client_usage(stdout);
    return 0;
  }
  if (i >= argc) {
    client_usage(stderr);
    return 2;
  }
  if (!strcmp(argv[i], "add") && i + 1 < argc)
    return request(url, "POST", "/lemu/v1/faults", argv[i + 1]);
  if (!strcmp(argv[i], "list"))
    return request(url, "GET", "/lemu/v1/faults", NULL);
  if (!strcmp(argv[i], "clear")) {
    if (i + 1 < argc) {
      char *path = util_asprintf("/lemu/v1/faults/%s", argv[i + 1]);
      int rc = path ? request(url, "DELETE", path, NULL) : 1;
      free(path);
      return rc;
    }
    return request(url, "DELETE", "/lemu/v1/faults", NULL);
  }
  if (!strcmp(argv[i], "import") && i + 1 < argc) {
    char *text = read_whole_file(argv[i + 1]), *path;
    const char *seed = i + 3 < argc && !strcmp(argv[i + 2], "--seed") ? argv[i + 3] : "0";
    int rc;
    if (!text) {
      fprintf(stderr, "lemu: cannot read %s: %s\n", argv[i + 1], strerror(errno));
      return 1;
    }
    path = util_asprintf("/lemu/v1/faults/fis?Seed=%s", seed);
    rc = path ? request(url, "POST", path, text) : 1;
    free(path);
    free(text);
    return rc;
  }
  client_usage(stderr);
  return 2;
}
