/* Fuzzes deployment-package extraction (emulator/code_package.c, libzip underneath) on arbitrary
 * bytes as a zip archive. Security invariants checked after every input, beyond the sanitizers:
 * nothing is ever created outside the destination (the scratch folder holds the destination and
 * nothing else); a refused archive leaves no destination behind and gives a reason; an accepted
 * one has no symlink that resolves outside the tree and no more bytes than the cap. */
#include "fuzz_common.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/stat.h>

#define FZ_MAX_UNZIPPED (1024ull * 1024ull)

static char root_real[PATH_MAX];
static size_t root_len;
static unsigned long long regular_bytes;
static bool escaped;

static int check_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void)ftw;
  if (flag == FTW_SL || flag == FTW_SLN) {
    char resolved[PATH_MAX];
    if (realpath(path, resolved) &&
        !(strncmp(resolved, root_real, root_len) == 0 && (resolved[root_len] == '/' || resolved[root_len] == '\0'))) {
      fprintf(stderr, "symlink %s resolves outside the tree: %s\n", path, resolved);
      escaped = true;
    }
  } else if (flag == FTW_F && S_ISREG(sb->st_mode)) {
    regular_bytes += (unsigned long long)sb->st_size;
  }
  return 0;
}

/* Names in the scratch folder other than "pkg" (and the fixed entries of other targets). */
static size_t stray_entries(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  size_t n = 0;

  FUZZ_CHECK(d);
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "pkg")) {
      fprintf(stderr, "stray entry outside the destination: %s/%s\n", dir, e->d_name);
      n++;
    }
  closedir(d);
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *scratch = fuzz_scratch();
  char *dest = util_asprintf("%s/pkg", scratch), *reason = NULL;
  struct code_package info;
  struct stat st;
  lemu_err_t rc;

  FUZZ_CHECK(dest);
  rc = code_package_extract(data, size, dest, FZ_MAX_UNZIPPED, &info, &reason);
  FUZZ_CHECK(info.code_size == size && strlen(info.sha256_b64) == CODE_PACKAGE_SHA_B64_LEN);
  FUZZ_CHECK(stray_entries(scratch) == 0);
  if (rc == LEMU_ERR_OK) {
    FUZZ_CHECK(reason == NULL);
    FUZZ_CHECK(realpath(dest, root_real));
    root_len = strlen(root_real);
    regular_bytes = 0;
    escaped = false;
    FUZZ_CHECK(nftw(dest, check_entry, 16, FTW_PHYS) == 0);
    FUZZ_CHECK(!escaped);
    FUZZ_CHECK(regular_bytes <= FZ_MAX_UNZIPPED && regular_bytes <= info.unzipped_size &&
               info.unzipped_size <= FZ_MAX_UNZIPPED);
  } else {
    FUZZ_CHECK(lstat(dest, &st) != 0 && errno == ENOENT);
    if (rc == LEMU_ERR_INVAL)
      FUZZ_CHECK(reason && reason[0]);
    else
      FUZZ_CHECK(reason == NULL);
  }
  free(reason);
  FUZZ_CHECK(code_package_remove_tree(dest) == LEMU_ERR_OK);
  free(dest);
  return 0;
}
