// The modelslim command line tool.
#include "modelslim/core/cli.hpp"

int main(int argc, char** argv) {
  return modelslim::core::run_cli(argc, argv);
}
