/*
 * hostile-membomb: allocates and touches the number of MB the event asks for ({"mb": 300}),
 * 1 MB at a time, then answers {"allocated_mb": N}. In a 128 MB function, 300 MB gets the
 * environment killed at its memory limit: the caller sees Runtime.OutOfMemory and REPORT shows
 * Max Memory Used equal to Memory Size. Bounded: never more than 1024 MB, whatever the event
 * says, so it is harmless where no limit is enforced. The memory is freed after each answer.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "../rapi.h"

#define NAME "hostile-membomb"
#define CAP_MB 1024
#define MB ((size_t)1024 * 1024)

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  for (;;) {
    struct rapi_resp ev;
    char **chunks, answer[128];
    int mb, i;

    rapi_next(NAME, &ev);
    mb = (int)rapi_json_num(ev.body, "mb", 0);
    if (mb < 0)
      mb = 0;
    if (mb > CAP_MB)
      mb = CAP_MB;
    chunks = calloc((size_t)mb + 1, sizeof(*chunks));
    if (!chunks)
      rapi_die(NAME, "out of memory");
    for (i = 0; i < mb; i++) {
      chunks[i] = mmap(NULL, MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (chunks[i] == MAP_FAILED)
        rapi_die(NAME, "mmap failed after %d MB", i);
      memset(chunks[i], 0xa5, MB); /* touch every page: resident, not just reserved */
      if ((i + 1) % 50 == 0) {
        printf("allocated %d MB\n", i + 1);
        fflush(stdout);
      }
    }
    snprintf(answer, sizeof(answer), "{\"allocated_mb\": %d}", mb);
    rapi_respond(ev.request_id, answer);
    for (i = 0; i < mb; i++)
      munmap(chunks[i], MB);
    free(chunks);
    rapi_free(&ev);
  }
}
