// tensor/interrupt.cpp: see interrupt.h. The handler uses only async-signal-safe calls.
#include "tensor/interrupt.h"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

namespace ld {

namespace {

std::atomic<int> g_signal{0};  // the first signal received; 0 = none
std::atomic<int> g_mode{static_cast<int>(InterruptMode::QuitNow)};

// A slot is free (0), being filled (1), registered (2) or taken by the handler (3). The handler
// takes a slot (2 -> 3) before reading its path, and the owner frees it only with 2 -> 0, so
// the handler never reads a path that is being changed.
constexpr int kSlots = kMaxTempFiles;
constexpr size_t kPathBytes = 4096;
struct Slot {
  std::atomic<int> state{0};
  char path[kPathBytes];
};
Slot g_slots[kSlots];

static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs lock-free atomics");

void say(const char* text) {
  size_t n = std::strlen(text);
  while (n > 0) {
    const ssize_t w = ::write(STDERR_FILENO, text, n);
    if (w <= 0) {
      if (w < 0 && errno == EINTR) continue;
      return;
    }
    text += w;
    n -= static_cast<size_t>(w);
  }
}

// Dies of `sig` itself (default action, unblocked) rather than exiting with 128 + sig: a shell
// running loradiff from a script then knows Ctrl-C was pressed and stops the script too.
[[noreturn]] void die_of(int sig) {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  ::sigaction(sig, &sa, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  ::raise(sig);
  ::_exit(128 + sig);  // not reached
}

[[noreturn]] void remove_temp_files_and_die(int sig) {
  for (Slot& s : g_slots) {
    int expected = 2;
    if (s.state.compare_exchange_strong(expected, 3)) ::unlink(s.path);
  }
  die_of(sig);
}

extern "C" void on_signal(int sig) {
  const int saved_errno = errno;  // the interrupted code may be about to read errno
  int none = 0;
  const bool first = g_signal.compare_exchange_strong(none, sig);
  if (!first || g_mode.load() == static_cast<int>(InterruptMode::QuitNow)) {
    if (!first) say("\nloradiff: interrupted again: quitting now\n");
    remove_temp_files_and_die(sig);
  }
  say(sig == SIGINT ? "\nloradiff: interrupted: stopping at the next safe point (Ctrl-C again to quit now)\n"
                    : "\nloradiff: terminated: stopping at the next safe point (signal again to quit now)\n");
  errno = saved_errno;
}

}  // namespace

void install_interrupt_handler(InterruptMode mode) {
  g_mode.store(static_cast<int>(mode));
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

bool interrupt_requested() { return g_signal.load() != 0; }

int interrupt_signal() { return g_signal.load(); }

int interrupt_exit_status() {
  const int sig = g_signal.load();
  return 128 + (sig ? sig : SIGINT);
}

void throw_if_interrupted() {
  if (interrupt_requested()) throw Interrupted();
}

void clear_interrupt() { g_signal.store(0); }

void exit_interrupted() {
  std::fflush(nullptr);
  die_of(g_signal.load() ? g_signal.load() : SIGINT);
}

TempFile::TempFile(std::string path) : path_(std::move(path)) {
  if (path_.size() >= kPathBytes) return;
  for (int i = 0; i < kSlots; ++i) {
    int expected = 0;
    if (!g_slots[i].state.compare_exchange_strong(expected, 1)) continue;
    std::memcpy(g_slots[i].path, path_.c_str(), path_.size() + 1);
    g_slots[i].state.store(2);
    slot_ = i;
    return;
  }
}

TempFile::~TempFile() {
  if (!keep_) ::unlink(path_.c_str());
  if (slot_ >= 0) {
    int expected = 2;
    // fails only while the handler holds the slot; it is about to _exit
    g_slots[slot_].state.compare_exchange_strong(expected, 0);
  }
}

int registered_temp_files() {
  int n = 0;
  for (const Slot& s : g_slots) n += s.state.load() == 2;
  return n;
}

}  // namespace ld
