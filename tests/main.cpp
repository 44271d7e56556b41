#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include <poll.h>
#include <unistd.h>

#include "support.hpp"

namespace {

// Every validation message fails the run, whichever Context printed it: the shared test devices,
// a Context a test made for itself, one made and destroyed inside a library call. The library
// prints each message it counts as one stderr line starting with one of the prefixes below; this
// reads the process's stderr through a pipe, passes every byte on, and counts those lines. Tests
// that provoke messages on purpose take them off with test::take_expected_validation_messages().
class StderrWatch {
public:
    StderrWatch() {
        int fds[2];
        if (pipe(fds) != 0) return;
        saved_ = dup(STDERR_FILENO);
        read_ = fds[0];
        std::fflush(stderr);
        dup2(fds[1], STDERR_FILENO);
        close(fds[1]);
        reader_ = std::thread([this] { run(); });
    }
    // Restores stderr and returns the lines seen.
    std::size_t stop() {
        if (!reader_.joinable()) return 0;
        std::fflush(stderr);
        dup2(saved_, STDERR_FILENO);  // the pipe's last write end in this process closes
        stopping_ = true;
        reader_.join();
        close(read_);
        return seen_;
    }

private:
    void run() {
        char buf[4096];
        for (;;) {
            pollfd p{read_, POLLIN, 0};
            const int ready = poll(&p, 1, 100);
            if (ready == 0) {
                if (stopping_) return;  // drained (a child process may still hold a write end)
                continue;
            }
            const ssize_t n = read(read_, buf, sizeof buf);
            if (n <= 0) return;
            for (ssize_t done = 0; done < n;) {
                const ssize_t w = write(saved_, buf + done, std::size_t(n - done));
                if (w <= 0) break;
                done += w;
            }
            scan(buf, std::size_t(n));
        }
    }
    void scan(const char* data, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) {
            if (data[i] == '\n') {
                for (const char* prefix : {"vkhalf: validation: ", "vkhalf: allocator check: "})
                    if (line_.rfind(prefix, 0) == 0) ++seen_;
                line_.clear();
            } else if (line_.size() < 64) {
                line_ += data[i];
            }
        }
    }

    int saved_ = -1, read_ = -1;
    std::thread reader_;
    std::atomic<bool> stopping_{false};
    std::string line_;
    std::size_t seen_ = 0;
};

} // namespace

int main(int argc, char** argv) {
    StderrWatch watch;
    doctest::Context runner(argc, argv);
    int result = runner.run();
    // The shared test Contexts end here, not among static destructors at exit: by then the
    // validation layer (1.4.309) has torn down state it still needs in vkDeviceWaitIdle and
    // vkDestroyDevice, and the process crashes after every test passed.
    test::release_devices();
    const std::size_t seen = watch.stop(), expected = test::expected_validation_messages();
    if (seen > expected) {
        std::fprintf(stderr,
                     "vkhalf-tests: %zu validation message(s) printed in this run, %zu of them provoked on purpose: "
                     "FAILED (the messages are above, each starting 'vkhalf: validation:' or 'vkhalf: allocator "
                     "check:')\n",
                     seen, expected);
        result = result ? result : 1;
    }
    return result;
}
