// autograd/var.h: reverse-mode automatic differentiation, the core.
//
// Like micrograd's Value, but holding a Tensor: a Var is a node in the graph the
// forward pass records. Each node keeps its value, its gradient, the nodes it was
// computed from (inputs) and a closure, `backward`, that pushes the node's gradient
// to those inputs. Var::backward() sorts the graph topologically and calls the
// closures from the output back to the leaves; then it frees the graph.
//
// Ops (autograd/ops/*.cpp) build nodes with make_node(); the op-specific maths,
// forward and backward, lives there, beside each other.
#pragma once
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace ld::ag {

struct Node {
  Tensor value;
  Tensor grad;  // allocated on first accumulation; same shape as value
  bool requires_grad = false;
  std::vector<std::shared_ptr<Node>> inputs;
  std::function<void(Node& self)> backward;  // reads self.grad, calls accumulate() on inputs
  const char* op = "leaf";

  // grad += g, summing over broadcast axes when g is larger than value (see sum_to)
  void accumulate(const Tensor& g);
};

class Var {
 public:
  Var() = default;
  // A leaf: a parameter (requires_grad = true) or a constant input.
  explicit Var(Tensor value, bool requires_grad = false);

  const Tensor& value() const { return node_->value; }
  const Tensor& grad() const { return node_->grad; }  // undefined until a backward reaches it
  bool requires_grad() const { return node_ && node_->requires_grad; }
  void set_requires_grad(bool r) { node_->requires_grad = r; }
  bool defined() const { return node_ != nullptr; }
  const Shape& shape() const { return node_->value.shape(); }
  int64_t dim() const { return node_->value.dim(); }
  int64_t size(int64_t axis) const { return node_->value.size(axis); }
  const char* op() const { return node_->op; }
  Node* node() const { return node_.get(); }
  const std::shared_ptr<Node>& node_ptr() const { return node_; }

  // Reverse pass from this node. A scalar gets d(self)/d(self) = 1; otherwise pass
  // the output gradient. Gradients accumulate into every reachable node that
  // requires grad; the recorded graph is released afterwards.
  void backward(const Tensor& grad_output = Tensor()) const;
  void zero_grad() const { node_->grad = Tensor(); }
  // Same value, cut from the graph.
  Var detach() const { return Var(node_->value, false); }
  // Replace the value of a leaf in place (optimizers, loading weights).
  void set_value(const Tensor& v) const;

 private:
  std::shared_ptr<Node> node_;
  friend Var make_node(Tensor, const char*, std::vector<Var>, std::function<void(Node&)>);
};

// Record the result of an op. When gradient mode is off or no input requires a
// gradient, the result is a plain constant and nothing is recorded.
Var make_node(Tensor value, const char* op, std::vector<Var> inputs,
              std::function<void(Node& self)> backward);

// While a NoGrad is alive no graph is recorded (sampling, evaluation, optimizer steps).
class NoGrad {
 public:
  NoGrad();
  ~NoGrad();
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool previous_;
};
bool grad_enabled();
// Whether an op on these inputs records a backward now: gradient mode on and some input (undefined
// ones skipped) requires a gradient, as make_node decides. For ops that compute less when none will follow.
bool records_backward(std::initializer_list<const Var*> inputs);

}  // namespace ld::ag
