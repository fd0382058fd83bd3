// tensor/parallel.h: OpenMP threading policy.
// Thread count: LORADIFF_NUM_THREADS if set, else OpenMP's default (OMP_NUM_THREADS), at most
// max_sane_threads(); a value that is not a whole number >= 1, or is larger, gives one warning
// line on stderr and the default or the maximum, never an error or a hang.
// Large element-wise ops and reductions split their outer loop across threads;
// small ones run on one thread, where starting threads would cost more than it saves.
// OpenBLAS is kept single-threaded: large GEMMs are split over the same OpenMP
// threads (tensor/matmul.cpp), so two thread pools never fight over the cores.
// The forward's large loops of independent work items (Winograd's and im2col's chunks of samples,
// attention's (batch, head) items, the dense layers' row blocks) hand their items out with
// schedule(dynamic): on a shared or virtual machine a core is now and then taken away for a while,
// and with a static split the other threads then wait for its share at the loop's end; handed out
// one at a time, the items it would have done go to the others. Each item is computed the same way
// whichever thread takes it, so the bits do not change. Measured (2 cores of a virtual machine,
// 2026-12-01, one binary with both schedules alternated): DDIM sampling 0.87-0.91x the time, a
// training step 0.91-0.94x. Loops whose threads add into per-thread partial sums (weight gradients)
// stay static: their bits depend on which thread summed what.
#pragma once
#include <cstdint>
#include <string>

namespace ld {

int num_threads();
void set_num_threads(int n);
// 4 x the hardware threads OpenMP may use (at least 4, at most 1024): more only adds switching.
int max_sane_threads();
// The count for an LORADIFF_NUM_THREADS value (nullptr: not set), clamped to [1, max_threads];
// `warning` gets one line when the value is not taken as written (else it is cleared).
int parse_num_threads(const char* env, int fallback, int max_threads, std::string& warning);
// Below this many elements an op runs single-threaded.
constexpr int64_t kParallelGrain = 32768;

}  // namespace ld
