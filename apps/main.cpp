// apps/main.cpp: the `loradiff` command line. Each subcommand lives in its own
// file (apps/cmd_*.cpp) and registers itself here.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <iostream>

#include "apps/commands.h"
#include "apps/option_checks.h"
#include "dist/communicator.h"
#include "tensor/blas_kernel.h"
#include "tensor/huge_pages.h"
#include "tensor/error.h"
#include "tensor/interrupt.h"
#include "tensor/omp_wait.h"
#include "tensor/parallel.h"
#include "tensor/reference.h"
#include "tensor/simd_dispatch.h"
#include "tensor/thin_gemm.h"

// `train`, `lora train` and `compress` (its fine-tuning) split each batch over the processes of
// `mpirun -np N` (docs/distributed.md).
static bool runs_data_parallel(const CLI::App& app) {
  for (const CLI::App* c : app.get_subcommands()) {
    if (c->get_name() == "train" || c->get_name() == "compress") return true;
    if (c->get_name() == "lora")
      for (const CLI::App* sub : c->get_subcommands())
        if (sub->get_name() == "train") return true;
  }
  return false;
}

int main(int argc, char** argv) {
  // How OpenMP's idle threads wait between parallel regions: a short spin when the machine has idle
  // cores, sleeping at once when it is busy (tensor/omp_wait.h). libgomp reads this once, when it is
  // loaded, so set it and restart ourselves.
  bool restart = ld::prepare_omp_wait();
  // glibc's heap in 2 MB pages where Linux offers them on request: up to 9 % faster
  // (tensor/huge_pages.h); glibc reads its tunables once, at start-up.
  restart = ld::prepare_huge_pages() || restart;
  // OpenBLAS picks its GEMM kernel when it is loaded, and falls back to a generic one on a CPU newer
  // than itself (2x slower training): ask for the best one this CPU has (tensor/blas_kernel.h).
  restart = ld::prepare_blas_kernel(restart) || restart;
  if (restart) execv("/proc/self/exe", argv);  // returns only on failure: then go on as we are
  // A file-size limit (`ulimit -f`) would kill us with SIGXFSZ in the middle of a write; ignored,
  // the write fails with EFBIG instead and write_file_atomic reports it, keeping the old file.
  std::signal(SIGXFSZ, SIG_IGN);
  // Started by `mpirun -np N`: one process of a data-parallel run (dist/communicator.h).
  ld::dist::Communicator& comm = ld::dist::Communicator::world();
  ld::dist::init(argc, argv);
  const std::string who = comm.size() > 1 ? "loradiff (" + comm.who() + ")" : "loradiff";
  // Process 0 alone prints progress, logs and warnings; the others print only their errors.
  std::ostream errors(std::cerr.rdbuf());
  if (!comm.primary()) {
    std::cout.rdbuf(nullptr);
    std::cerr.rdbuf(nullptr);
  }
  // Ctrl-C / SIGTERM quit at once but remove a half-written temporary file first; the long
  // commands switch to stopping at a safe point (tensor/interrupt.h).
  ld::install_interrupt_handler(ld::InterruptMode::QuitNow);
  CLI::App app{"loradiff: LoRA together with diffusion models for text-to-image generation, from scratch"};
  // --version: what runs the numbers too (the GEMM kernel, the element-wise loops' instruction set).
  app.set_version_flag("--version", [] {
    return std::string("loradiff ") + LORADIFF_VERSION + "\nBLAS: " + ld::blas_summary() +
           "\nSIMD: " +
           (ld::simd_level() == ld::SimdLevel::Avx512 && ld::simd_description() == std::string("avx512")
                ? std::string("avx512 (exp / erf on data in cache), avx2 (other element-wise loops)")
                : ld::simd_description() + std::string(" (element-wise loops)")) +
           "\ntall, thin products: " + ld::thin_gemm_description() +
           "\nkernels: " + ld::kernels_name(ld::kernels()) + "\nmemory: " + ld::huge_pages_description() +
           "\nthreads: " + std::to_string(ld::num_threads()) +
           "; idle threads: " + ld::omp_wait_description() +
           (ld::dist::built_with_mpi() ? "\nMPI: yes (mpirun -np N loradiff train | lora train | compress)"
                                       : "\nMPI: no (built without it)");
  });
  app.require_subcommand(1);
  app.footer(
      "Environment: LORADIFF_NUM_THREADS (threads; default OpenMP's; at most 4 x the hardware threads),\n"
      "LORADIFF_SIMD=baseline|avx2|avx512 (cap the element-wise loops' instruction set; default the best this CPU\n"
      "has), LORADIFF_KERNELS=fast|reference (reference: the plain loops of tensor/reference.h),\n"
      "LORADIFF_THIN_GEMM=auto|off|avx2|avx512 (loradiff's own kernel for tall, thin products; default auto:\n"
      "AVX-512 where the CPU has it, else OpenBLAS), LORADIFF_HUGE_PAGES=on|off (the heap in 2 MB pages\n"
      "where Linux offers transparent huge pages on request; default on),\n"
      "OMP_WAIT_POLICY, GOMP_SPINCOUNT (how idle threads wait; default a short spin when the machine has\n"
      "idle cores, else sleep), OPENBLAS_CORETYPE (OpenBLAS's GEMM kernel; default the best for this CPU;\n"
      "both shown by `loradiff --version`).");
  std::function<int()> run;
  ld::app::register_gradcheck(app, run);
  ld::app::register_bench(app, run);
  ld::app::register_data(app, run);
  ld::app::register_classifier(app, run);
  ld::app::register_train(app, run);
  ld::app::register_sample(app, run);
  ld::app::register_lora(app, run);
  ld::app::register_eval(app, run);
  ld::app::register_denoiser_error(app, run);
  ld::app::register_compress(app, run);
  ld::app::add_option_checks(app);  // every numeric option's range, checked while parsing
  // CLI11 answers an unknown command word with "A subcommand is required"; name the word instead.
  CLI::App* level = &app;
  for (int i = 1; i < argc && argv[i][0] != '-' && !level->get_subcommands({}).empty(); ++i) {
    try {
      level = level->get_subcommand(argv[i]);
    } catch (const CLI::OptionNotFound&) {
      std::cerr << "loradiff: unknown command '" << argv[i] << "'; `loradiff "
                << (level == &app ? "" : level->get_name() + " ") << "--help` lists them\n";
      return 109;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (comm.primary())
    for (const std::string& w : ld::app::ignored_option_warnings(app))
      std::cerr << "loradiff: warning: " << w << "\n";
  if (comm.size() > 1 && !runs_data_parallel(app)) {
    // N copies of any other command would write the same files N times
    if (comm.primary())
      std::cerr << "loradiff: error: only `train`, `lora train` and `compress` run as several processes "
                   "(mpirun -np "
                << comm.size() << "); start this command without mpirun\n";
    ld::dist::finalize();
    return 2;
  }
  int rc = 1;
  try {
    rc = run ? run() : 0;
  } catch (const ld::Interrupted& e) {
    errors << who << ": interrupted: " << e.what() << "\n";
    std::cout.flush();
    ld::exit_interrupted();            // by the signal, as an unhandled Ctrl-C: status 130 in a shell
  } catch (const std::exception& e) {  // ld::Error and the rest: one line
    errors << who << ": error: " << e.what() << std::endl;
    ld::dist::abort_all(1);  // the other processes would wait for this one forever
    return 1;
  }
  ld::dist::finalize();
  return rc;
}
