// bench/bench.cpp: timing helpers (medians after warm-up, paired medians) and the JSON-line output.
#include "bench/bench.h"

#include <algorithm>
#include <vector>

#include "tensor/blas_kernel.h"
#include "tensor/huge_pages.h"
#include "tensor/omp_wait.h"
#include "tensor/reference.h"
#include "tensor/simd_dispatch.h"
#include "tensor/thin_gemm.h"

namespace ld::bench {

double median_ms(const std::function<void()>& f, int reps, int warmup) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

std::pair<double, double> paired_median_ms(const std::function<void()>& a, const std::function<void()>& b,
                                           int reps) {
  a();
  b();
  std::vector<double> ta, tb;
  for (int i = 0; i < reps; ++i) {
    ta.push_back(median_ms(a, 1, 0));
    tb.push_back(median_ms(b, 1, 0));
  }
  std::sort(ta.begin(), ta.end());
  std::sort(tb.begin(), tb.end());
  return {ta[ta.size() / 2], tb[tb.size() / 2]};
}

void emit(const nlohmann::json& j) {
  nlohmann::json line = j;
  // the instruction set of the dispatched element-wise loops (tensor/simd_dispatch.h) and the GEMM
  // kernel OpenBLAS runs (tensor/blas_kernel.h): the two things that decide these numbers on a CPU
  line["simd"] = simd_description();
  line["blas_kernel"] = blas_kernel();
  line["blas_origin"] = blas_kernel_origin();
  line["thin_gemm"] = thin_gemm_isa();  // loradiff's kernel for tall, thin products ("": OpenBLAS)
  line["omp_wait"] = omp_wait_description();  // how idle threads wait (tensor/omp_wait.h)
  line["pages"] = huge_pages_name();  // the heap in 2MB or 4KB pages (tensor/huge_pages.h)
  line["kernels"] = kernels_name(kernels());  // fast, or the plain references (tensor/reference.h)
  std::cout << line.dump() << std::endl;
}

}  // namespace ld::bench
