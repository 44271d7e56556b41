#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "support.hpp"

int main(int argc, char** argv) {
    doctest::Context runner(argc, argv);
    const int result = runner.run();
    // The shared test Contexts end here, not among static destructors at exit: by then the
    // validation layer (1.4.309) has torn down state it still needs in vkDeviceWaitIdle and
    // vkDestroyDevice, and the process crashes after every test passed.
    test::release_devices();
    return result;
}
