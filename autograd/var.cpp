#include "autograd/var.h"

#include <unordered_set>

#include "tensor/elementwise.h"
#include "tensor/reduce.h"

namespace ld::ag {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }
NoGrad::NoGrad() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGrad::~NoGrad() { g_grad_enabled = previous_; }

void Node::accumulate(const Tensor& g) {
  Tensor gg = g.shape() == value.shape() ? g : sum_to(g, value.shape());
  if (!grad.defined()) {
    // own a fresh contiguous buffer: g may be a view of another node's memory
    grad = gg.clone();
  } else {
    axpy_(grad, 1.0f, gg);
  }
}

Var::Var(Tensor value, bool requires_grad) : node_(std::make_shared<Node>()) {
  check_defined("Var", value, "value");
  node_->value = std::move(value);
  node_->requires_grad = requires_grad;
}

void Var::set_value(const Tensor& v) const {
  if (v.shape() != node_->value.shape())
    fail("set_value: new value ", shape_str(v.shape()), " differs from ", shape_str(node_->value.shape()));
  node_->value = v;
}

Var make_node(Tensor value, const char* op, std::vector<Var> inputs, std::function<void(Node&)> backward) {
  Var out(std::move(value), false);
  out.node_->op = op;
  if (!g_grad_enabled) return out;
  bool any = false;
  for (const Var& v : inputs) any = any || v.requires_grad();
  if (!any) return out;
  out.node_->requires_grad = true;
  out.node_->backward = std::move(backward);
  for (Var& v : inputs) out.node_->inputs.push_back(v.node_ptr());
  return out;
}

void Var::backward(const Tensor& grad_output) const {
  if (!requires_grad()) fail("backward: this value does not require grad (no parameter reaches it)");
  Tensor g = grad_output;
  if (!g.defined()) {
    if (node_->value.numel() != 1)
      fail("backward: output ", shape_str(shape()), " is not a scalar; pass its gradient explicitly");
    g = Tensor::ones(node_->value.shape());
  } else if (g.shape() != shape()) {
    fail("backward: gradient ", shape_str(g.shape()), " does not match output ", shape_str(shape()));
  }
  // Topological order by depth-first search (iterative, so deep graphs cannot overflow the stack).
  std::vector<Node*> order;
  std::unordered_set<Node*> seen;
  std::vector<std::pair<Node*, size_t>> stack{{node_.get(), 0}};
  seen.insert(node_.get());
  while (!stack.empty()) {
    auto& [n, i] = stack.back();
    if (i < n->inputs.size()) {
      Node* child = n->inputs[i++].get();
      if (child->requires_grad && seen.insert(child).second) stack.push_back({child, 0});
    } else {
      order.push_back(n);
      stack.pop_back();
    }
  }
  node_->accumulate(g);
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* n = *it;
    if (n->backward && n->grad.defined()) n->backward(*n);
  }
  // Free the graph: interior nodes drop their closures (and the tensors they saved)
  // and their inputs; their gradients are no longer needed. Leaves keep theirs.
  for (Node* n : order) {
    if (!n->inputs.empty()) {
      n->backward = nullptr;
      n->inputs.clear();
      if (n != node_.get()) n->grad = Tensor();
    }
  }
}

}  // namespace ld::ag
