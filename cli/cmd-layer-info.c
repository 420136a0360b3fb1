#include "cli.h"
int nsfd_cmd_layer_info (int argc, char **argv) { (void) argc; (void) argv; return 2; }
