// autograd/var.cpp: the autograd engine: recording a node (make_node), gradient accumulation
// (Node::accumulate, which sums broadcasts back) and Var::backward (topological order, closures, free).
#include "autograd/var.h"

#include <chrono>
#include <unordered_set>

#include "autograd/profile.h"
#include "tensor/elementwise.h"
#include "tensor/reduce.h"

namespace ld::ag {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }
bool records_backward(std::initializer_list<const Var*> inputs) {
  if (!g_grad_enabled) return false;
  for (const Var* v : inputs)
    if (v->requires_grad()) return true;  // false for an undefined Var
  return false;
}
NoGrad::NoGrad() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGrad::~NoGrad() { g_grad_enabled = previous_; }

void Node::accumulate(const Tensor& g) {
  if (g.shape() != value.shape()) {
    accumulate(sum_to(g, value.shape()));  // a broadcast input: sum the gradient back to its shape
    return;
  }
  if (grad.defined()) {
    axpy_(grad, 1.0f, g);
  } else if (g.is_contiguous() && g.storage().use_count() == 1) {
    grad = g;  // a temporary the op just computed and nobody else can see: keep its buffer
  } else {
    grad = g.clone();  // g is (a view of) memory others hold, e.g. the output's own gradient
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
  if (profile::enabled()) {
    std::vector<const Tensor*> in;
    for (const Var& v : inputs) in.push_back(v.defined() ? &v.value() : nullptr);
    profile::record_forward(op, value, in);
  }
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
  // Topological order by depth-first search (iterative, so deep graphs cannot overflow
  // the stack). `order` owns the nodes, so each can be released as soon as it is done.
  std::vector<std::shared_ptr<Node>> order;
  std::unordered_set<Node*> seen;
  std::vector<std::pair<std::shared_ptr<Node>, size_t>> owned{{node_, 0}};
  seen.insert(node_.get());
  while (!owned.empty()) {
    auto& [n, i] = owned.back();
    if (i < n->inputs.size()) {
      std::shared_ptr<Node> child = n->inputs[i++];
      if (child->requires_grad && seen.insert(child.get()).second) owned.push_back({std::move(child), 0});
    } else {
      order.push_back(std::move(n));
      owned.pop_back();
    }
  }
  node_->accumulate(g);
  // Reverse topological order: when a node is reached, every consumer of its value has
  // already pushed its gradient into it. After its own backward the node is done:
  // its gradient, its closure (and the tensors the closure saved) and its edges are
  // freed at once, so memory falls as the backward pass proceeds. Leaves (parameters)
  // keep their accumulated gradient.
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* n = it->get();
    if (n->backward && n->grad.defined()) {
      if (profile::enabled()) {
        // a GEMM-shaped op's backward: one product of the forward's size per input needing a gradient
        std::vector<const Tensor*> in;
        int needs = 0;
        for (size_t i = 0; i < n->inputs.size(); ++i) {
          in.push_back(&n->inputs[i]->value);
          needs += i < 2 && n->inputs[i]->requires_grad;
        }
        const double flops = needs * profile::forward_flops(n->op, n->value, in);
        const auto t0 = std::chrono::steady_clock::now();
        n->backward(*n);
        profile::record_backward(
            n->op, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count(),
            flops);
      } else {
        n->backward(*n);
      }
    }
    if (!n->inputs.empty() || n->backward) {
      n->backward = nullptr;
      n->inputs.clear();
      if (n != node_.get()) n->grad = Tensor();
    }
    it->reset();  // the last owner of an interior node nobody else holds: its value goes too
  }
}

}  // namespace ld::ag
