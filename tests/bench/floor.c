/* lemu-floor: the loopback floor of the benchmark harness. A trivial libmicrohttpd server (the
 * same library lemu uses, one epoll thread) that answers every request with 200 `{}` and
 * Content-Type application/json. Nothing can answer an HTTP request on this machine much faster
 * with this library, so it is the yardstick for lemu's rows: an invoke is two such loopback
 * exchanges (client -> lemu, runtime -> lemu).
 *
 *   lemu-floor [PORT]      prints http://127.0.0.1:PORT on stdout, serves until SIGTERM/SIGINT. */
#define _GNU_SOURCE
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLOOR_BODY "{}"
#define FLOOR_BACKLOG 1024u

static struct MHD_Response *answer;

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
  (void)cls;
  (void)url;
  (void)method;
  (void)version;
  (void)upload_data;
  if (*con_cls == NULL) { /* headers are in: come back for the body */
    *con_cls = conn;
    return MHD_YES;
  }
  if (*upload_data_size) { /* drop the body */
    *upload_data_size = 0;
    return MHD_YES;
  }
  return MHD_queue_response(conn, MHD_HTTP_OK, answer);
}

int main(int argc, char **argv)
{
  unsigned port = argc > 1 ? (unsigned)atoi(argv[1]) : 0;
  struct MHD_Daemon *d;
  const union MHD_DaemonInfo *info;
  sigset_t set;
  int sig;

  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, NULL);
  answer = MHD_create_response_from_buffer(strlen(FLOOR_BODY), (void *)FLOOR_BODY, MHD_RESPMEM_PERSISTENT);
  if (!answer)
    return 1;
  MHD_add_response_header(answer, "Content-Type", "application/json");
  d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO, (uint16_t)port,
                       NULL, NULL, on_access, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 0u,
                       MHD_OPTION_LISTEN_BACKLOG_SIZE, FLOOR_BACKLOG, MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "lemu-floor: cannot listen on port %u\n", port);
    return 1;
  }
  info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  printf("http://127.0.0.1:%u\n", info ? info->port : port);
  fflush(stdout);
  sigwait(&set, &sig);
  MHD_stop_daemon(d);
  MHD_destroy_response(answer);
  return 0;
}
