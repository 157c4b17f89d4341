/* Fuzzes config loading (emulator/config.c) through its public door, config_load() on a file:
 * the input is written to <scratch>/lemu.json (a folder that also holds code/, so a relative
 * CodeUri can resolve) and loaded; when the first byte is 0x01 the rest is written instead as the
 * function.json of a sample folder and loaded as the embedded default (LEMU_SAMPLES_DIR), the
 * other parser path. Invariants: success yields a complete configuration (functions with a name,
 * runtime and an existing absolute code directory); failure yields one message naming the file. */
#include "fuzz_common.h"

#include <stdbool.h>
#include <sys/stat.h>

#include "lemu/config.h"

#define FZ_SAMPLE_MODE 0x01 /* first byte: load the rest as a sample's function.json */

static char cfg_path[512], samples_dir[512], sample_json[512];

static void setup_once(void)
{
  char code[512], sample[512];

  if (cfg_path[0])
    return;
  snprintf(cfg_path, sizeof(cfg_path), "%s/lemu.json", fuzz_scratch());
  snprintf(code, sizeof(code), "%s/code", fuzz_scratch());
  snprintf(samples_dir, sizeof(samples_dir), "%s/samples", fuzz_scratch());
  snprintf(sample, sizeof(sample), "%s/samples/fn", fuzz_scratch());
  snprintf(sample_json, sizeof(sample_json), "%s/function.json", sample);
  if (mkdir(code, 0755) || mkdir(samples_dir, 0755) || mkdir(sample, 0755))
    abort();
  setenv("LEMU_SAMPLES_DIR", samples_dir, 1);
}

static void write_file(const char *path, const uint8_t *data, size_t size)
{
  FILE *f = fopen(path, "wb");

  if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct lemu_config cfg;
  char *message = NULL;
  bool as_sample = size > 0 && data[0] == FZ_SAMPLE_MODE;
  lemu_err_t rc;
  size_t i;

  setup_once();
  if (as_sample) {
    write_file(sample_json, data + 1, size - 1);
    rc = config_load(NULL, &cfg, &message);
  } else {
    write_file(cfg_path, data, size);
    rc = config_load(cfg_path, &cfg, &message);
  }
  if (rc == LEMU_ERR_OK) {
    FUZZ_CHECK(message == NULL);
    FUZZ_CHECK(cfg.listen_host && cfg.region && cfg.account_id && cfg.listen_port <= 65535);
    FUZZ_CHECK(cfg.account_concurrency >= 1);
    for (i = 0; i < cfg.n_functions; i++) {
      const struct function_config *fc = &cfg.functions[i];
      struct function_config copy;
      FUZZ_CHECK(fc->name && fc->name[0] && config_function_name_valid(fc->name));
      FUZZ_CHECK(fc->runtime && fc->handler && fc->description);
      FUZZ_CHECK(fc->code_dir && fc->code_dir[0] == '/');
      FUZZ_CHECK(fc->timeout_s >= 1 && fc->timeout_s <= CONFIG_MAX_TIMEOUT_S);
      FUZZ_CHECK(fc->memory_mb >= CONFIG_MIN_MEMORY_MB && fc->memory_mb <= CONFIG_MAX_MEMORY_MB);
      FUZZ_CHECK(fc->n_env == 0 || fc->env[fc->n_env - 1]);
      /* The management API's deep copy of what was loaded. */
      FUZZ_CHECK(function_config_copy(&copy, fc) == LEMU_ERR_OK);
      function_config_cleanup(&copy);
    }
    config_cleanup(&cfg);
  } else {
    FUZZ_CHECK(rc == LEMU_ERR_CONFIG);
    FUZZ_CHECK(message && message[0]);
    free(message);
  }
  return 0;
}
