// autograd/gradcheck.cpp: the finite-difference gradient check of gradcheck.h: analytic
// gradient of sum(f(x) * R) against central differences, element by element, in double.
#include "autograd/gradcheck.h"

#include <cmath>

#include "tensor/random.h"

namespace ld::ag {

namespace {

// sum(out * R) in double
double weighted_sum(const Tensor& out, const std::vector<float>& r) {
  std::vector<float> v = out.to_vector();
  double s = 0.0;
  for (size_t i = 0; i < v.size(); ++i) s += static_cast<double>(v[i]) * r[i];
  return s;
}

// Storage offsets of every element of a strided view, in row-major index order.
std::vector<int64_t> element_offsets(const Tensor& t) {
  std::vector<int64_t> offs;
  offs.reserve(t.numel());
  std::vector<int64_t> idx(t.dim(), 0);
  for (int64_t k = 0; k < t.numel(); ++k) {
    int64_t off = 0;
    for (int64_t d = 0; d < t.dim(); ++d) off += idx[d] * t.strides()[d];
    offs.push_back(off);
    for (int64_t d = t.dim() - 1; d >= 0; --d) {
      if (++idx[d] < t.shape()[d]) break;
      idx[d] = 0;
    }
  }
  return offs;
}

}  // namespace

GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs, const GradcheckOptions& opt) {
  GradcheckResult res;
  std::vector<Var> vars;
  for (const Tensor& t : inputs) {
    for (int64_t s : t.strides())
      if (s == 0) fail("gradcheck: inputs may not be expanded (stride-0) views");
    vars.emplace_back(t, t.dtype() == DType::F32);
  }
  Var out = f(vars);
  Generator gen(opt.seed);
  std::vector<float> r = rand_normal(out.shape(), gen).to_vector();
  // analytic: backward with dL/dout = R
  out.backward(Tensor::from_vector(r, out.shape()));

  for (size_t k = 0; k < inputs.size(); ++k) {
    if (inputs[k].dtype() != DType::F32) continue;
    const Tensor& x = inputs[k];
    std::vector<float> analytic =
        vars[k].grad().defined() ? vars[k].grad().to_vector() : std::vector<float>(x.numel(), 0.0f);
    std::vector<int64_t> offs = element_offsets(x);
    float* base = static_cast<float*>(x.storage()->ptr) + x.offset();
    for (int64_t i = 0; i < x.numel(); ++i) {
      float saved = base[offs[i]];
      base[offs[i]] = static_cast<float>(saved + opt.eps);
      double lp, lm;
      {
        NoGrad ng;
        lp = weighted_sum(f(vars).value(), r);
        base[offs[i]] = static_cast<float>(saved - opt.eps);
        lm = weighted_sum(f(vars).value(), r);
      }
      base[offs[i]] = saved;
      const double numeric = (lp - lm) / (2.0 * opt.eps);
      const double err = std::fabs(numeric - analytic[i]);
      res.max_abs_error = std::max(res.max_abs_error, err);
      ++res.checked;
      if (res.ok && err > opt.atol + opt.rtol * std::fabs(numeric)) {
        res.ok = false;
        res.message = str_cat("input ", k, " ", shape_str(x.shape()), " element ", i, ": analytic ", analytic[i],
                              " vs numeric ", numeric);
      }
    }
  }
  return res;
}

}  // namespace ld::ag
