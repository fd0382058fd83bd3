// bench/ops.cpp: `loradiff bench ops`, the tensor/autograd micro-benchmarks of the
// the foundation benchmarks: matmul vs raw cblas_sgemm, the dense layers' products through
// thin_gemm vs OpenBLAS, conv2d forward+backward at the
// reference model's shapes, softmax and layer norm. bench/torch_ops.py measures
// the same workloads in PyTorch for the side-by-side table in docs/results.md.
#include <cblas.h>

#include "autograd/ops.h"
#include "bench/bench.h"
#include "tensor/all.h"
#include "tensor/thin_gemm.h"

#include <functional>
#include <string>
#include <utility>

extern "C" void openblas_set_num_threads(int);

namespace ld::bench {

int run_ops(int reps) {
  Generator gen(0);
  const int threads = num_threads();
  for (int64_t n : {256, 512, 1024, 2048}) {
    Tensor a = rand_normal({n, n}, gen), b = rand_normal({n, n}, gen), c = Tensor::empty({n, n});
    const int r = n >= 2048 ? std::max(3, reps / 3) : reps;
    // raw: one cblas_sgemm call with OpenBLAS's own threads (loradiff keeps OpenBLAS
    // single-threaded and splits the GEMM over its OpenMP threads instead). Run with
    // OPENBLAS_THREAD_TIMEOUT=4 (bench/compare_ops.sh does): otherwise OpenBLAS's worker
    // keeps spinning after the raw call and slows the loradiff call paired with it.
    auto [raw, ours] = paired_median_ms(
        [&] {
          openblas_set_num_threads(threads);
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.f32(), n, b.f32(), n, 0.0f,
                      c.f32(), n);
          openblas_set_num_threads(1);
        },
        [&] { Tensor y = matmul(a, b); }, r);
    const double gflop = 2.0 * n * n * n / 1e9;
    emit({{"bench", "matmul"}, {"n", n}, {"threads", threads}, {"ms", ours}, {"gflops", gflop / (ours / 1e3)},
          {"sgemm_ms", raw}, {"sgemm_gflops", gflop / (raw / 1e3)}, {"ratio_of_sgemm", raw / ours}});
  }
  // The dense layers of mnist-t2i's transformer blocks (M = 64 x 196 tokens at 14x14, 64 x 49 at
  // 7x7): forward X W^T + b, input gradient dY W and weight gradient dY^T X, through thin_gemm
  // (tensor/thin_gemm.h) and through OpenBLAS (the bias copied first), paired.
  struct LinearShape {
    int64_t M, in, out;
  };
  const std::string isa = thin_gemm_isa();
  for (LinearShape s : {LinearShape{12544, 64, 64}, LinearShape{12544, 64, 256}, LinearShape{12544, 256, 64},
                        LinearShape{3136, 128, 128}, LinearShape{3136, 128, 512}, LinearShape{3136, 512, 128}}) {
    if (isa.empty()) break;
    Tensor X = rand_normal({s.M, s.in}, gen), W = rand_normal({s.out, s.in}, gen), b = rand_normal({s.out}, gen),
           dY = rand_normal({s.M, s.out}, gen), Y = Tensor::empty({s.M, s.out}), dX = Tensor::empty({s.M, s.in}),
           dW = Tensor::empty({s.out, s.in});
    const std::pair<const char*, std::function<void()>> products[] = {
        {"forward", [&] { gemm_bias(X, W.transpose(0, 1), b, Y); }},
        {"input_gradient", [&] { gemm(dY, W, dX); }},
        {"weight_gradient", [&] { gemm(dY.transpose(0, 1), X, dW); }}};
    for (const auto& [what, run] : products) {
      auto [blas, thin] = paired_median_ms(
          [&] {
            set_thin_gemm_choice("off");
            run();
          },
          [&] {
            set_thin_gemm_choice(isa.c_str());
            run();
          },
          reps);
      const double gflop = 2.0 * s.M * s.in * s.out / 1e9;
      emit({{"bench", "linear_gemm"}, {"product", what}, {"shape", {s.M, s.in, s.out}}, {"M", s.M}, {"in", s.in},
            {"out", s.out},
            {"threads", threads}, {"thin_gemm", isa}, {"ms", thin}, {"gflops", gflop / (thin / 1e3)},
            {"openblas_ms", blas}, {"openblas_gflops", gflop / (blas / 1e3)}, {"ratio_of_openblas", thin / blas}});
    }
  }
  set_thin_gemm_choice(isa.empty() ? "off" : isa.c_str());
  struct ConvShape {
    int64_t c, hw;
  };
  for (ConvShape s : {ConvShape{32, 28}, ConvShape{64, 14}, ConvShape{128, 7}}) {
    const int64_t N = 64;
    Tensor x = rand_normal({N, s.c, s.hw, s.hw}, gen), w = rand_normal({s.c, s.c, 3, 3}, gen),
           b = rand_normal({s.c}, gen), gy = rand_normal({N, s.c, s.hw, s.hw}, gen);
    double fwd = median_ms([&] { Tensor y = conv2d_forward(x, w, b, 1, 1); }, reps);
    double fb = median_ms([&] {
      Tensor y = conv2d_forward(x, w, b, 1, 1);
      Conv2dGrads g = conv2d_backward(x, w, gy, 1, 1, true, true, true);
    }, reps);
    emit({{"bench", "conv2d_3x3"}, {"shape", {N, s.c, s.hw, s.hw}}, {"threads", threads}, {"forward_ms", fwd},
          {"forward_backward_ms", fb}});
  }
  {
    Tensor x = rand_normal({64 * 4 * 196, 196}, gen);
    double ms = median_ms([&] { Tensor y = softmax(x, -1); }, reps);
    emit({{"bench", "softmax"}, {"shape", {64 * 4 * 196, 196}}, {"threads", threads}, {"ms", ms}});
  }
  {
    Tensor x = rand_normal({64 * 196, 64}, gen), g = Tensor::ones({64}), b = Tensor::zeros({64});
    double ms = median_ms([&] { NormResult r = layer_norm_forward(x, g, b, 1e-5f); }, reps);
    emit({{"bench", "layer_norm"}, {"shape", {64 * 196, 64}}, {"threads", threads}, {"ms", ms}});
  }
  return 0;
}

}  // namespace ld::bench
