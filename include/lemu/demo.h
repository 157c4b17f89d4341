/* `lemu demo NAME`: scripted scenarios that show one Lambda failure mode each against a running
 * lemu (timeout, throttling, pending, malformed proxy 502, EFS and KMS errors, async retries to a
 * destination), narrated in the terminal: colour on a terminal, plain text otherwise, and a
 * progress line while they wait. Each uses the sample functions and undoes what it changed (fault
 * rules, reserved concurrency, event invoke config), so they can run one after another. */
#ifndef LEMU_DEMO_H
#define LEMU_DEMO_H

/* argv after "demo". Returns the exit status: 0 when the scenario showed what it promised. */
int demo_main(int argc, char **argv);

#endif
