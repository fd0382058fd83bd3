// lora/resize.cpp: SVD of (alpha / r) B A per layer, keep the top r' (see resize.h).
#include "lora/resize.h"

#include <algorithm>
#include <cmath>

#include "lora/extract.h"
#include "lora/svd.h"

namespace ld::lora {

ResizeResult resize_lora(const Adapter& in, const ResizeOptions& o) {
  const bool by_rank = o.rank > 0, by_energy = o.energy > 0;
  if (by_rank == by_energy) fail("resize: give exactly one of --rank r (>= 1) or --energy e (in (0, 1])");
  if (by_energy && !(o.energy <= 1)) fail("--energy: ", o.energy, " must be in (0, 1]");
  if (o.rank < 0) fail("--rank: ", o.rank, " must be >= 1");
  if (by_rank) {
    int64_t largest = 0;
    for (const AdapterLayer& l : in.layers) largest = std::max(largest, l.rank());
    if (o.rank > largest)
      fail("--rank: ", o.rank, " is larger than the adapter's rank ", largest,
           "; resize only makes an adapter smaller");
  }
  ResizeResult res;
  res.adapter = in;
  res.adapter.layers.clear();
  res.adapter.rank = 0;
  for (size_t i = 0; i < in.layers.size(); ++i) {
    const AdapterLayer& l = in.layers[i];
    const SVD full = svd(in.delta_matrix(i));
    // B A has rank <= r: only the first r singular values can be non-zero.
    const int64_t old_r = l.rank();
    int64_t r = by_rank ? std::min(o.rank, old_r) : std::min(rank_for_energy(full.S, o.energy), old_r);
    r = std::max<int64_t>(r, 1);  // an all-zero update (untrained layer) keeps rank 1 of zeros
    const Shape wshape = l.A.dim() == 4 ? Shape{l.B.size(0), l.A.size(1), l.A.size(2), l.A.size(3)}
                                        : Shape{l.B.size(0), l.A.size(1)};
    res.adapter.layers.push_back(factor_low_rank(l.name, full.truncate(r), in.alpha, wshape));
    res.adapter.rank = std::max(res.adapter.rank, r);
    res.layers.push_back({l.name, old_r, r, energy_kept(full.S, r), full.S.to_vector()});
  }
  return res;
}

}  // namespace ld::lora
