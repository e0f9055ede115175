// Built against an installed sluice (find_package(sluice CONFIG), sluice::sluice).
// Must exit with 0.
#include <sluice/sluice.hpp>

#include <iostream>

int main() {
  std::cout << "sluice consumer ok\n";
  return 0;
}
