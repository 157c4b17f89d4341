/* lemu's command line: parses arguments and runs a subcommand; nothing else lives here. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lemu/api_control.h"
#include "lemu/config.h"
#include "lemu/demo.h"
#include "lemu/fault_catalog.h"
#include "lemu/fault_client.h"
#include "lemu/http_server.h"
#include "lemu/logs.h"
#include "lemu/sam.h"
#include "lemu/server.h"

#define EXIT_USAGE 2
#define EXIT_CONFIG 2

/* `lemu --help`: the commands. */
static void usage_main(FILE *f)
{
  fprintf(f,
          "usage: lemu COMMAND [ARGS]\n"
          "\n"
          "lemu runs AWS Lambda functions on this machine behind the real Invoke API, so unmodified\n"
          "AWS SDKs and CLIs can call them (any credentials and region are accepted).\n"
          "\n"
          "commands:\n"
          "  serve            run the emulator (the Invoke, management and control APIs)\n"
          "  fault            add, list, clear or import fault rules of a running lemu\n"
          "  faults-doc       print the fault catalog in Markdown (docs/faults.md)\n"
          "  demo NAME        narrate a failure scenario against a running lemu (timeout, throttling, ...)\n"
          "  help [COMMAND]   this help, or COMMAND's\n"
          "\n"
          "`lemu COMMAND --help` describes every option of COMMAND; `man lemu` has the whole manual.\n");
}

/* `lemu serve --help`: every option of serve. */
static void usage(FILE *f)
{
  fprintf(f,
          "usage: lemu serve [-c lemu.json] [--template template.yaml [--parameter-overrides K=V ...]]\n"
          "                  [--listen HOST:PORT] [--api-listen HOST:PORT] [--state-dir DIR]\n"
          "                  [--pending-seconds S] [--time-scale F] [--control-token TOKEN]\n"
          "                  [--no-sandbox] [--debug]\n"
          "\n"
          "Serve the Lambda Invoke API, the management API, lemu's control API (/lemu/v1: faults,\n"
          "queue, metrics) and the Runtime API of every function, until SIGTERM or SIGINT. The first\n"
          "line on stdout is the URL; function logs follow on stdout, lemu's own lines on stderr.\n"
          "\n"
          "options:\n"
          "  -c, --config FILE       lemu.json: functions, account limits and fault rules, in AWS's\n"
          "                          field names. Without it lemu serves every folder holding a\n"
          "                          function.json under $LEMU_SAMPLES_DIR (now %s).\n"
          "  -t, --template FILE     an AWS SAM / CloudFormation template (YAML or JSON): its\n"
          "                          AWS::Serverless::Function and AWS::Lambda::Function resources\n"
          "                          are served (docs/sam.md). With -c as well, the file gives the\n"
          "                          account, Lemu settings and faults; a function name in both is\n"
          "                          an error\n"
          "  --parameter-overrides K=V ...\n"
          "                          template parameter values, as sam takes them (also\n"
          "                          ParameterKey=K,ParameterValue=V); every word up to the next\n"
          "                          option\n"
          "  --listen HOST:PORT      where the APIs listen (default 127.0.0.1:9001; port 0 picks a\n"
          "                          free port). Anything but 127.0.0.0/8 prints a warning: whoever\n"
          "                          reaches the port can run code as you and change faults\n"
          "  --api-listen HOST:PORT  where the API Gateway front listens when a function has Api or\n"
          "                          HttpApi Events (default 127.0.0.1:3000; stderr names its URL)\n"
          "  --state-dir DIR         where functions created through the management API and the async\n"
          "                          event queue persist (default $XDG_STATE_HOME/lemu, else\n"
          "                          ~/.local/state/lemu)\n"
          "  --pending-seconds S     how long a created or updated function stays Pending / InProgress\n"
          "                          (0 to 600, default 1)\n"
          "  --time-scale F          multiply every async retry delay and event age by F (0.001: the\n"
          "                          1 min / 2 min retry schedule takes 60 ms / 120 ms)\n"
          "  --control-token TOKEN   every control API request (/lemu/v1/) must then carry\n"
          "                          \"Authorization: Bearer TOKEN\" or \"X-Lemu-Control-Token: TOKEN\"\n"
          "                          (401 otherwise); without a token /lemu/v1/ answers loopback\n"
          "                          callers only (403). Also $LEMU_CONTROL_TOKEN (preferred: a\n"
          "                          command line is visible to every user) or Lemu.ControlToken.\n"
          "                          The Invoke and management APIs never ask for it\n"
          "  --no-sandbox            run handlers without lemu's seccomp filter\n"
          "  --debug                 also log lemu's debug lines (stderr)\n"
          "  -h, --help              this help\n"
          "\n"
          "environment: LEMU_SAMPLES_DIR (the default functions), LEMU_RUNTIMES_DIR (lemu's Python and\n"
          "Node.js runtime shims), LEMU_CONTROL_TOKEN (as --control-token), XDG_STATE_HOME.\n",
          config_samples_dir());
}

/* `lemu faults-doc --help`. */
static void usage_faults_doc(FILE *f)
{
  fprintf(f, "usage: lemu faults-doc\n"
             "\n"
             "Print the fault catalog (every fault kind, what the caller sees, whether SDKs retry it)\n"
             "as Markdown: the build writes it to docs/faults.md.\n");
}

static bool is_help(const char *arg)
{
  return !strcmp(arg, "-h") || !strcmp(arg, "--help");
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

/* The control token: --control-token, else $LEMU_CONTROL_TOKEN, else the config's
 * Lemu.ControlToken (already in cfg). 0, or -1 after saying why on stderr (never echoing it). */
static int set_control_token(const char *arg, struct lemu_config *cfg)
{
  const char *env = getenv(API_CONTROL_TOKEN_ENV), *token = arg ? arg : env && *env ? env : NULL;
  char *copy;

  if (!token)
    return 0;
  if (!config_control_token_valid(token)) {
    fprintf(stderr, "lemu: %s: expected 1 to %d visible ASCII characters (no spaces)\n",
            arg ? "--control-token" : API_CONTROL_TOKEN_ENV, CONFIG_MAX_CONTROL_TOKEN);
    return -1;
  }
  copy = strdup(token);
  if (!copy)
    return -1;
  free(cfg->control_token);
  cfg->control_token = copy;
  return 0;
}

/* One warning line when other machines can reach the API port (issue 11, docs/security.md); the
 * API Gateway front says the same of its own port (apigw_announce). */
static void warn_exposed(const struct lemu_ctx *ctx)
{
  const struct lemu_config *cfg = &ctx->cfg;

  if (!config_host_is_loopback(cfg->listen_host))
    logs_warn("the APIs listen on %s:%u, which is not a loopback address: anyone who can reach this "
              "port can run code as this user (CreateFunction, Invoke) and change fault rules; %s "
              "(docs/security.md)", cfg->listen_host, http_server_port(ctx->api),
              cfg->control_token ? "the control token guards /lemu/v1/ only, firewall the port"
                                 : "guard /lemu/v1/ with --control-token TOKEN (or LEMU_CONTROL_TOKEN) "
                                   "and firewall the port");
}

static int cmd_serve(int argc, char **argv)
{
  const char *config_path = NULL, *template_path = NULL, *listen = NULL, *state_dir = NULL, *pending = NULL, *api_listen = NULL;
  const char *control_token = NULL;
  struct server_opts opts = {0};
  struct lemu_config cfg;
  struct lemu_ctx *ctx;
  char *message = NULL, **overrides = NULL;
  size_t n_overrides = 0;
  bool debug = false;
  int i, rc;

  for (i = 0; i < argc; i++) {
    if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
      config_path = argv[++i];
    } else if ((!strcmp(argv[i], "-t") || !strcmp(argv[i], "--template")) && i + 1 < argc) {
      template_path = argv[++i];
    } else if (!strcmp(argv[i], "--parameter-overrides") && i + 1 < argc && argv[i + 1][0] != '-') {
      overrides = argv + i + 1; /* every word up to the next option (sam's syntax) */
      for (n_overrides = 0; i + 1 < argc && argv[i + 1][0] != '-'; i++)
        n_overrides++;
    } else if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
      listen = argv[++i];
    } else if (!strcmp(argv[i], "--api-listen") && i + 1 < argc) {
      api_listen = argv[++i];
    } else if (!strcmp(argv[i], "--control-token") && i + 1 < argc) {
      control_token = argv[++i];
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
  if (overrides && !template_path) {
    fprintf(stderr, "lemu: --parameter-overrides: only with --template\n");
    return EXIT_USAGE;
  }
  logs_init(debug);
  if (config_path || !template_path) {
    if (config_load(config_path, &cfg, &message) != LEMU_ERR_OK) {
      fprintf(stderr, "lemu: %s\n", message);
      free(message);
      return EXIT_CONFIG;
    }
  } else {
    config_defaults(&cfg);
    cfg.source = strdup(template_path);
  }
  if (template_path) {
    /* Inline code goes under the state directory lemu will use. */
    char *scratch = state_dir ? strdup(state_dir) : cfg.state_dir ? strdup(cfg.state_dir) : config_default_state_dir();
    struct sam_opts so = {.overrides = overrides, .n_overrides = n_overrides, .scratch_dir = scratch};
    lemu_err_t err = sam_load(template_path, &so, &cfg, &message);
    free(scratch);
    if (err != LEMU_ERR_OK) {
      fprintf(stderr, "lemu: %s\n", message);
      free(message);
      config_cleanup(&cfg);
      return EXIT_CONFIG;
    }
  }
  if (listen && parse_listen(listen, &cfg) != 0) {
    fprintf(stderr, "lemu: --listen: expected HOST:PORT such as 127.0.0.1:9001, got \"%s\"\n", listen);
    config_cleanup(&cfg);
    return EXIT_USAGE;
  }
  if (api_listen && !config_parse_listen(api_listen, &cfg.api_listen_host, &cfg.api_listen_port)) {
    fprintf(stderr, "lemu: --api-listen: expected HOST:PORT such as 127.0.0.1:3000, got \"%s\"\n", api_listen);
    config_cleanup(&cfg);
    return EXIT_USAGE;
  }
  if (set_control_token(control_token, &cfg) != 0) {
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
  warn_exposed(ctx);
  rc = server_run(ctx);
  server_destroy(ctx);
  return rc;
}

int main(int argc, char **argv)
{
  if (argc >= 3 && !strcmp(argv[1], "help")) {
    /* `lemu help CMD` is `lemu CMD --help` */
    char *help_argv[] = {argv[0], argv[2], "--help", NULL};
    return main(3, help_argv);
  }
  if (argc >= 2 && !strcmp(argv[1], "serve"))
    return cmd_serve(argc - 2, argv + 2);
  if (argc >= 2 && !strcmp(argv[1], "fault"))
    return fault_client_main(argc - 2, argv + 2);
  if (argc >= 2 && !strcmp(argv[1], "demo"))
    return demo_main(argc - 2, argv + 2);
  if (argc >= 2 && !strcmp(argv[1], "faults-doc")) {
    char *doc;
    if (argc >= 3) {
      usage_faults_doc(is_help(argv[2]) ? stdout : stderr);
      return is_help(argv[2]) ? 0 : EXIT_USAGE;
    }
    doc = fault_catalog_markdown();
    if (!doc)
      return 1;
    fputs(doc, stdout);
    free(doc);
    return 0;
  }
  if (argc >= 2 && (is_help(argv[1]) || !strcmp(argv[1], "help"))) {
    usage_main(stdout);
    return 0;
  }
  if (argc >= 2)
    fprintf(stderr, "lemu: unknown command '%s'\n", argv[1]);
  usage_main(stderr);
  return EXIT_USAGE;
}
