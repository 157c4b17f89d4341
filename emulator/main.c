/* lemu's command line: parses arguments and runs a subcommand; nothing else lives here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lemu/config.h"
#include "lemu/fault_catalog.h"
#include "lemu/fault_client.h"
#include "lemu/logs.h"
#include "lemu/server.h"

#define EXIT_USAGE 2
#define EXIT_CONFIG 2

static void usage(FILE *f)
{
  fprintf(f,
          "usage: lemu serve [-c lemu.json] [--listen HOST:PORT] [--state-dir DIR] [--pending-seconds S]\n"
          "                  [--time-scale F] [--no-sandbox] [--debug]\n"
          "       lemu fault [--endpoint-url URL] add RULE_JSON | list | clear [ID] | import FIS.json [--seed N]\n"
          "       lemu faults-doc        print the fault catalog (docs/faults.md)\n"
          "\n"
          "  serve   run the Lambda Invoke API and the Runtime API for the configured functions.\n"
          "          Without -c it serves the sample functions (%s).\n"
          "          --listen 127.0.0.1:0 picks a free port; the first stdout line is the URL.\n"
          "          --state-dir DIR keeps functions created through the management API (default\n"
          "          $XDG_STATE_HOME/lemu or ~/.local/state/lemu); --pending-seconds S is how long a\n"
          "          created or updated function stays Pending / InProgress (default 1).\n"
          "          --time-scale F multiplies every async retry delay and event age (0.001: the\n"
          "          1 min / 2 min retry schedule takes 60 ms / 120 ms).\n",
          config_samples_dir());
}

static int parse_listen(const char *arg, struct lemu_config *cfg)
{
  const char *colon = strrchr(arg, ':');
  char *end;
  long port;

  if (!colon || colon == arg)
    return -1;
  errno = 0;
  port = strtol(colon + 1, &end, 10);
  if (errno || *end || end == colon + 1 || port < 0 || port > 65535)
    return -1;
  free(cfg->listen_host);
  cfg->listen_host = strndup(arg, (size_t)(colon - arg));
  cfg->listen_port = (unsigned)port;
  return cfg->listen_host ? 0 : -1;
}

static int cmd_serve(int argc, char **argv)
{
  const char *config_path = NULL, *listen = NULL, *state_dir = NULL, *pending = NULL;
  struct server_opts opts = {0};
  struct lemu_config cfg;
  struct lemu_ctx *ctx;
  char *message = NULL;
  bool debug = false;
  int i, rc;

  for (i = 0; i < argc; i++) {
    if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
      config_path = argv[++i];
    } else if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
      listen = argv[++i];
    } else if (!strcmp(argv[i], "--state-dir") && i + 1 < argc) {
      state_dir = argv[++i];
    } else if (!strcmp(argv[i], "--pending-seconds") && i + 1 < argc) {
      pending = argv[++i];
    } else if (!strcmp(argv[i], "--time-scale") && i + 1 < argc) {
      char *end;
      opts.time_scale = strtod(argv[++i], &end);
      if (*end || !(opts.time_scale > 0 && opts.time_scale <= 1000)) {
        fprintf(stderr, "lemu: --time-scale: expected a number greater than 0, got \"%s\"\n", argv[i]);
        return EXIT_USAGE;
      }
    } else if (!strcmp(argv[i], "--no-sandbox")) {
      opts.no_sandbox = true;
    } else if (!strcmp(argv[i], "--debug")) {
      debug = true;
    } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "lemu: unknown or incomplete option '%s'\n", argv[i]);
      usage(stderr);
      return EXIT_USAGE;
    }
  }
  logs_init(debug);
  if (config_load(config_path, &cfg, &message) != LEMU_ERR_OK) {
    fprintf(stderr, "lemu: %s\n", message);
    free(message);
    return EXIT_CONFIG;
  }
  if (listen && parse_listen(listen, &cfg) != 0) {
    fprintf(stderr, "lemu: --listen: expected HOST:PORT such as 127.0.0.1:9001, got \"%s\"\n", listen);
    config_cleanup(&cfg);
    return EXIT_USAGE;
  }
  if (state_dir || pending) {
    char *end = NULL;
    double secs = pending ? strtod(pending, &end) : 0;
    if (pending && (end == pending || *end || !(secs >= 0 && secs <= CONFIG_MAX_PENDING_S))) {
      fprintf(stderr, "lemu: --pending-seconds: expected a number of seconds from 0 to 600, got \"%s\"\n", pending);
      config_cleanup(&cfg);
      return EXIT_USAGE;
    }
    if (pending)
      cfg.pending_seconds = secs;
    if (state_dir) {
      free(cfg.state_dir);
      cfg.state_dir = strdup(state_dir);
    }
  }
  {
    lemu_err_t err = server_create(&ctx, &cfg, &opts);
    if (err != LEMU_ERR_OK) {
      config_cleanup(&cfg);
      return err == LEMU_ERR_CONFIG ? EXIT_CONFIG : 1;
    }
  }
  rc = server_run(ctx);
  server_destroy(ctx);
  return rc;
}

int main(int argc, char **argv)
{
  if (argc >= 2 && !strcmp(argv[1], "serve"))
    return cmd_serve(argc - 2, argv + 2);
  if (argc >= 2 && !strcmp(argv[1], "fault"))
    return fault_client_main(argc - 2, argv + 2);
  if (argc >= 2 && !strcmp(argv[1], "faults-doc")) {
    char *doc = fault_catalog_markdown();
    if (!doc)
      return 1;
    fputs(doc, stdout);
    free(doc);
    return 0;
  }
  if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))) {
    usage(stdout);
    return 0;
  }
  usage(stderr);
  return EXIT_USAGE;
}
