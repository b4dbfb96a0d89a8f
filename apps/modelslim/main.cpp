// The modelslim command line tool.
#include <iostream>

#include "modelslim/core/cli.hpp"
#include "spin_yield.hpp"

int main(int argc, char** argv) {
  if (const auto problem = modelslim::apps::spin_yield_env_problem()) {
    std::cerr << "modelslim: " << *problem << "\n";
    return 2;
  }
  return modelslim::core::run_cli(argc, argv);
}
