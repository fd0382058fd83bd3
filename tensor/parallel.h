// tensor/parallel.h: OpenMP threading policy.
// Thread count: LORADIFF_NUM_THREADS if set, else OpenMP's default (OMP_NUM_THREADS).
// Large element-wise ops and reductions split their outer loop across threads;
// small ones run on one thread, where starting threads would cost more than it saves.
// OpenBLAS is kept single-threaded: large GEMMs are split over the same OpenMP
// threads (tensor/matmul.cpp), so two thread pools never fight over the cores.
#pragma once
#include <cstdint>

namespace ld {

int num_threads();
void set_num_threads(int n);
// Below this many elements an op runs single-threaded.
constexpr int64_t kParallelGrain = 32768;

}  // namespace ld
