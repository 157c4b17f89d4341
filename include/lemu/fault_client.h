/* `lemu fault add|list|clear|import`: a thin client of a running server's control API (design.md
 * §4), so the CLI can never do what the API cannot. */
#ifndef LEMU_FAULT_CLIENT_H
#define LEMU_FAULT_CLIENT_H

#define FAULT_CLIENT_DEFAULT_URL "http://127.0.0.1:9001"

/* argv after "fault". Returns the process exit status. */
int fault_client_main(int argc, char **argv);

#endif
