// The `modelslim` command line: subcommand dispatch, shared flags, error reporting and exit codes.
#pragma once

namespace modelslim::core {

// Returns the process exit code: 0 success, 1 a modelslim error (printed with its TIP), 2 bad usage.
int run_cli(int argc, char** argv);

}  // namespace modelslim::core
