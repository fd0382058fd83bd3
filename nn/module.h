// nn/module.h: the Module tree (PyTorch's nn.Module, minus the magic).
//
// A Module owns named parameters (ag::Var leaves) and named child modules. Both
// live in ordinary member variables of the concrete layer; the constructor
// registers each member under its name, so the registry holds a pointer to the
// member. Walking the tree joins the names with dots, which gives the state-dict
// names of reference-model.md: `unet.down1.attn.cross_attn.to_k.weight`.
//
//   class Linear : public Module {
//     Var weight, bias;
//     Linear(...) { register_parameter("weight", weight); register_parameter("bias", bias); }
//   };
//
// A child slot is a std::shared_ptr member; replace_module("a.b.to_q", m) assigns
// a new module to that very member, so the parent's forward calls the new one.
// Declare a child as std::shared_ptr<Module> when it may be swapped for another
// kind (LoRA wraps attention projections) and call it through the virtual
// forward(x); declare it with its concrete type when the parent needs that type.
//
// Modules are neither copyable nor movable: the registry points into them.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/var.h"

namespace ld::nn {

using ag::Var;

// Parameter name -> value, as stored in a checkpoint.
using StateDict = std::map<std::string, Tensor>;

// What load_state_dict found besides the parameters it loaded.
struct LoadReport {
  std::vector<std::string> missing;     // in the module, not in the dict
  std::vector<std::string> unexpected;  // in the dict, not in the module
  struct Mismatch {
    std::string name;
    Shape expected, got;
  };
  std::vector<Mismatch> mismatched;  // in both, different shape (or dtype): not loaded
  bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  std::string str() const;  // the problems on one line (the first 5, then a count), "" when ok()
};

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Short type name for messages and print(): "Linear", "Conv2d", ...
  virtual std::string type_name() const = 0;
  // The single-input forward, for layers that take one tensor (Linear, Conv2d,
  // norms, activations, Sequential). Others define their own forward overloads;
  // calling this one on them fails with a clear message.
  virtual Var forward(const Var& x);
  Var operator()(const Var& x) { return forward(x); }
  // forward(x) + residual: a residual connection. Linear and Conv2d add the residual as they write
  // their output (the same bits; no pass of its own on the convolution paths and where thin_gemm
  // runs, tensor/thin_gemm.h); any other module adds it afterwards.
  virtual Var forward_add(const Var& x, const Var& residual);
  // GELU(forward(x)): a layer and its activation. Linear GELUs its output rows while they are in cache
  // (ag::linear_gelu, the same bits); any other module applies ag::gelu afterwards.
  virtual Var forward_gelu(const Var& x);

  // --- parameters, depth first, in registration order (own parameters first)
  std::vector<std::pair<std::string, Var>> named_parameters() const;
  std::vector<Var> parameters() const;
  std::vector<Var> trainable_parameters() const;  // those with requires_grad
  int64_t num_parameters() const;                 // elements, all parameters
  // The slot of one parameter by dotted name; assigning to it rebinds the layer's
  // member (tests use it to hand a layer the Vars of gradcheck).
  Var& parameter(const std::string& dotted_name);

  // --- children
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;
  // Every module below this one (not this one), depth first, parents before children.
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_modules() const;
  std::shared_ptr<Module> get_module(const std::string& dotted_name) const;  // fails when absent
  // get_module, cast to T; fails when the module there is not a T.
  template <class T>
  std::shared_ptr<T> get_module_as(const std::string& dotted_name) const {
    std::shared_ptr<Module> m = get_module(dotted_name);
    auto typed = std::dynamic_pointer_cast<T>(m);
    if (!typed) fail("get_module_as: '", dotted_name, "' is a ", m->type_name(), ", not the type asked for");
    return typed;
  }
  // Put `m` into the slot at `dotted_name`; returns the module it replaced. Fails
  // when there is no such slot or the slot's declared type cannot hold m.
  std::shared_ptr<Module> replace_module(const std::string& dotted_name, std::shared_ptr<Module> m);

  // --- modes
  void train(bool on = true);  // this module and every descendant
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Freeze (false) or unfreeze (true) every parameter of this sub-tree.
  void requires_grad(bool on);
  void zero_grad();  // drop the gradients of every parameter

  // --- state dict: parameter values by dotted name
  StateDict state_dict() const;  // a snapshot: contiguous copies
  // Strict: any missing / unexpected / mismatched name throws, listing all of them,
  // and nothing is loaded. Non-strict: loads what matches and reports the rest.
  LoadReport load_state_dict(const StateDict& dict, bool strict = true);

  // The module tree, one line per module with its parameter shapes.
  std::string str() const;

 protected:
  // Register a member parameter; an undefined Var (e.g. no bias) is skipped.
  void register_parameter(const std::string& name, Var& slot);
  // Register a member child slot of any Module type.
  template <class T>
  void register_module(const std::string& name, std::shared_ptr<T>& slot) {
    check_new_name(name);
    Child c;
    c.name = name;
    c.get = [&slot]() -> std::shared_ptr<Module> { return slot; };
    c.set = [&slot, name](std::shared_ptr<Module> m) {
      auto typed = std::dynamic_pointer_cast<T>(m);
      if (!typed)
        fail("replace_module: '", name, "' holds a ", slot ? slot->type_name() : std::string("module"),
             " slot that cannot take a ", m ? m->type_name() : std::string("null module"));
      slot = std::move(typed);
    };
    children_.push_back(std::move(c));
  }

 private:
  struct Child {
    std::string name;
    std::function<std::shared_ptr<Module>()> get;
    std::function<void(std::shared_ptr<Module>)> set;
  };
  void check_new_name(const std::string& name) const;
  void collect_parameters(const std::string& prefix, std::vector<std::pair<std::string, Var*>>& out) const;
  void print(const std::string& name, int depth, std::string& out) const;
  std::vector<std::pair<std::string, Var*>> parameter_slots() const;

  std::vector<std::pair<std::string, Var*>> params_;
  std::vector<Child> children_;
  bool training_ = true;
};

// Create a module held by shared_ptr, the way parents store their children:
//   to_q = make<Linear>(64, 64, false, gen);
template <class T, class... Args>
std::shared_ptr<T> make(Args&&... args) {
  return std::make_shared<T>(std::forward<Args>(args)...);
}

}  // namespace ld::nn
