// tensor/interrupt.h: Ctrl-C (SIGINT) and SIGTERM, the same way in every command.
//
// Long commands (train, lora train, compress, sample, eval, classifier train) call
// install_interrupt_handler(): the first signal only sets a flag and prints one line; loops
// poll interrupt_requested() between steps (a trainer then checkpoints and stops) or call
// throw_if_interrupted() deep inside (sampler steps, held-out batches, calibration passes),
// which unwinds to the caller that knows what to keep. A second signal quits at once: it
// removes the temporary files being written (write_file_atomic registers them) and ends the
// process by that signal (a shell reports status 128 + signal, 130 for Ctrl-C, and a script
// running loradiff stops as well). Every other command gets QuitNow from main: the first
// signal already does that.
//
// Everything the handler touches is async-signal-safe: lock-free atomics, a fixed table of
// temporary paths, write(2), unlink(2), _exit(2). The handler may run on any thread (OpenMP
// workers included).
#pragma once
#include <exception>
#include <string>

namespace ld {

// Thrown by throw_if_interrupted. Deliberately not an ld::Error: code that turns errors into
// messages (`catch (const Error&)`) must not swallow a stop request.
struct Interrupted : std::exception {
  const char* what() const noexcept override { return "stopped before the output was written"; }
};

enum class InterruptMode {
  StopAtSafePoint,  // first signal: set the flag, print a line; second: quit now
  QuitNow,          // first signal: remove temporary files, quit (commands that never poll)
};

// sigaction for SIGINT and SIGTERM (SA_RESTART, so a system call in progress is not broken).
void install_interrupt_handler(InterruptMode mode = InterruptMode::StopAtSafePoint);

bool interrupt_requested();
int interrupt_signal();       // the first signal received (SIGINT or SIGTERM), 0 when none
int interrupt_exit_status();  // 128 + that signal; 130 when none was received
void throw_if_interrupted();  // throws Interrupted once a stop was requested
void clear_interrupt();       // forget a request (tests)
// After a stop that wrote nothing: flush stdio and end the process by the signal received, as
// an unhandled Ctrl-C would (status 130 in a shell), so a calling script stops too.
[[noreturn]] void exit_interrupted();

// Runs f(); returns false instead when a stop was requested before or during it (f threw
// Interrupted): the trainers abandon a held-out evaluation or a sample grid this way and then
// checkpoint the steps already done.
template <class F>
bool run_unless_interrupted(F&& f) {
  if (interrupt_requested()) return false;
  try {
    f();
    return true;
  } catch (const Interrupted&) {
    return false;
  }
}

// A temporary file the signal handler removes before it exits; the destructor removes it too
// (every exit path: errors, exceptions) unless keep() was called after it was renamed into
// place. Register before the file is created. At most kMaxTempFiles at once and paths of up to
// 4095 bytes are registered with the handler; beyond that only the destructor removes the file.
inline constexpr int kMaxTempFiles = 64;  // write_files_atomic keeps up to half of them
class TempFile {
 public:
  explicit TempFile(std::string path);
  ~TempFile();
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }
  void keep() { keep_ = true; }

 private:
  std::string path_;
  int slot_ = -1;
  bool keep_ = false;
};

// The temporary paths the handler would remove now (tests).
int registered_temp_files();

}  // namespace ld
