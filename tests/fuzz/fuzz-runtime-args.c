/* libFuzzer target: the runtime wrapper's command-line parser.  The input is
 * split on NUL and newline into argv[1..]; every pointer the parser returns
 * must point at (or into) one of those strings. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz-common.h"
#include "runtime-args.h"

#define MAX_ARGS 128

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_points_into (const char *p, char **argv, size_t argc)
{
  if (p == NULL)
    return;
  for (size_t i = 0; i < argc; i++)
    if (p >= argv[i] && p <= argv[i] + strlen (argv[i]))
      return;
  abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *argv[MAX_ARGS + 2];
  struct nsfd_runtime_args ra;
  size_t n;

  argv[0] = strdup ("nsfdsuds-runtime");
  if (argv[0] == NULL)
    return 0;
  n = fuzz_split (data, size, argv + 1, MAX_ARGS);
  argv[n + 1] = NULL;
  nsfd_runtime_args_parse ((int) n + 1, argv, &ra);
  if (ra.cmd_index >= (int) n + 1 || ra.cmd_index == 0 || (ra.cmd_index < 0 && ra.cmd != NULL))
    abort ();
  if (ra.cmd_index > 0 && ra.cmd != argv[ra.cmd_index])
    abort ();
  check_points_into (ra.id, argv, n + 1);
  check_points_into (ra.bundle, argv, n + 1);
  check_points_into (ra.pid_file, argv, n + 1);
  check_points_into (ra.root, argv, n + 1);
  fuzz_free_strings (argv, n + 1);
  return 0;
}
