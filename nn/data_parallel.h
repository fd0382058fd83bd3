// nn/data_parallel.h: data-parallel SGD over the processes of dist/communicator.h
// (docs/distributed.md). With N processes each holding a shard of the batch (n_r of B samples):
//   L = (1/B) sum_i l_i = sum_r (n_r / B) L_r,    L_r = the mean loss of shard r
//   g = dL/dtheta = sum_r (n_r / B) dL_r/dtheta
// so each process scales its shard's loss by n_r / B, and one all-reduce (sum) of the gradients
// gives every process g, the gradient of the whole batch: the same update everywhere.
#pragma once
#include <vector>

#include "autograd/var.h"
#include "dist/communicator.h"

namespace ld::nn {

using ag::Var;

// Every process takes process 0's values of `params` (the start of a run, or after resuming).
void broadcast_parameters(const std::vector<Var>& params, dist::Communicator& comm);

// grad(p) = sum over processes of grad(p) for every p (one flat buffer, bucketed); `extra`
// (a few numbers such as the loss or a stop flag) is summed in the same call. A parameter
// without a gradient counts as zero.
void allreduce_gradients(const std::vector<Var>& params, dist::Communicator& comm, std::vector<float>& extra);

}  // namespace ld::nn
