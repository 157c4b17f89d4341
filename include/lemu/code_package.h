/* Deployment packages: a .zip uploaded through the management API is unpacked with libzip into a
 * directory of lemu's state dir. Unpacking never writes outside that directory: entries with an
 * absolute path or a ".." component are refused, no path is ever resolved through a symlink while
 * unpacking, symlinks are created last and must resolve inside the tree, and the unpacked size and
 * each entry's compression ratio are capped. libzip is dlopen()ed on the first archive, not linked
 * (an idle lemu maps neither it nor the libcrypto it pulls in). CodeSha256 is
 * base64(SHA-256(zip bytes)) as Lambda reports it (nettle). */
#ifndef LEMU_CODE_PACKAGE_H
#define LEMU_CODE_PACKAGE_H

#include <stddef.h>

#include "lemu/err.h"

#define CODE_PACKAGE_SHA_B64_LEN 44 /* base64 of 32 bytes */
#define CODE_PACKAGE_MAX_ENTRIES 100000

struct code_package {
  char sha256_b64[CODE_PACKAGE_SHA_B64_LEN + 1];
  unsigned long long code_size;      /* zip bytes */
  unsigned long long unzipped_size;  /* bytes of every file written */
};

/* Unpack zip[0..len) into dest, which must not exist yet (it is created 0755). max_unzipped caps
 * the bytes written. Results: LEMU_ERR_OK; LEMU_ERR_INVAL when the archive is corrupt or unsafe,
 * an entry over the compression ratio bound included (*reason, malloc'd, says which entry and why,
 * for lemu's log); LEMU_ERR_TOOBIG past max_unzipped; LEMU_ERR_IO (also when libzip cannot be
 * loaded: that is logged here, naming the library) / LEMU_ERR_NOMEM. On any failure dest is
 * removed again. info's sha256_b64 and code_size are set whatever the result. */
lemu_err_t code_package_extract(const void *zip, size_t len, const char *dest,
                                unsigned long long max_unzipped, struct code_package *info,
                                char **reason);

/* base64(SHA-256(data)) into out. */
void code_package_sha256_b64(const void *data, size_t len, char out[CODE_PACKAGE_SHA_B64_LEN + 1]);

/* Remove a directory tree without following symlinks. Missing path: LEMU_ERR_OK. */
lemu_err_t code_package_remove_tree(const char *path);

#endif
