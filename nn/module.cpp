// nn/module.cpp: walking the module tree (names, modes, state dict).
#include "nn/module.h"

#include "autograd/ops.h"

#include <set>

#include "tensor/excerpt.h"

namespace ld::nn {

namespace {

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// "a.b.c" -> ("a.b", "c"); "c" -> ("", "c")
std::pair<std::string, std::string> split_last(const std::string& dotted) {
  const size_t dot = dotted.rfind('.');
  if (dot == std::string::npos) return {"", dotted};
  return {dotted.substr(0, dot), dotted.substr(dot + 1)};
}

std::string dtype_and_shape(const Tensor& t) { return str_cat(dtype_name(t.dtype()), shape_str(t.shape())); }

}  // namespace

std::string LoadReport::str() const {
  std::vector<std::string> items;
  for (const auto& n : missing) items.push_back("missing: " + n);
  for (const auto& n : unexpected) items.push_back("unexpected: " + n);
  for (const auto& m : mismatched)
    items.push_back(str_cat("wrong shape: ", m.name, " is ", shape_str(m.expected), " in the model, ",
                            shape_str(m.got), " in the file"));
  return one_line_list(items);
}

Var Module::forward(const Var&) {
  fail(type_name(), ": this module has no single-input forward(x); call its own forward overload");
}

Var Module::forward_add(const Var& x, const Var& residual) { return ag::add(forward(x), residual); }

Var Module::forward_gelu(const Var& x) { return ag::gelu(forward(x)); }

void Module::check_new_name(const std::string& name) const {
  if (name.empty() || name.find('.') != std::string::npos)
    fail(type_name(), ": name '", name, "' must be non-empty and contain no '.'");
  for (const auto& [n, _] : params_)
    if (n == name) fail(type_name(), ": '", name, "' is already registered");
  for (const auto& c : children_)
    if (c.name == name) fail(type_name(), ": '", name, "' is already registered");
}

void Module::register_parameter(const std::string& name, Var& slot) {
  check_new_name(name);
  if (!slot.defined()) return;  // e.g. a layer built without bias
  if (slot.value().dtype() != DType::F32) fail(type_name(), ": parameter '", name, "' must be F32");
  params_.push_back({name, &slot});
}

void Module::collect_parameters(const std::string& prefix,
                                std::vector<std::pair<std::string, Var*>>& out) const {
  for (const auto& [name, slot] : params_) out.push_back({join(prefix, name), slot});
  for (const auto& c : children_) {
    std::shared_ptr<Module> m = c.get();
    if (m) m->collect_parameters(join(prefix, c.name), out);
  }
}

std::vector<std::pair<std::string, Var*>> Module::parameter_slots() const {
  std::vector<std::pair<std::string, Var*>> out;
  collect_parameters("", out);
  return out;
}

std::vector<std::pair<std::string, Var>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Var>> out;
  for (const auto& [name, slot] : parameter_slots()) out.push_back({name, *slot});
  return out;
}

std::vector<Var> Module::parameters() const {
  std::vector<Var> out;
  for (const auto& [_, slot] : parameter_slots()) out.push_back(*slot);
  return out;
}

std::vector<Var> Module::trainable_parameters() const {
  std::vector<Var> out;
  for (const auto& [_, slot] : parameter_slots())
    if (slot->requires_grad()) out.push_back(*slot);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& [_, slot] : parameter_slots()) n += slot->value().numel();
  return n;
}

Var& Module::parameter(const std::string& dotted_name) {
  for (auto& [name, slot] : parameter_slots())
    if (name == dotted_name) return *slot;
  fail(type_name(), ": no parameter named '", dotted_name, "'");
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const {
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> out;
  for (const auto& c : children_)
    if (auto m = c.get()) out.push_back({c.name, m});
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_modules() const {
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> out;
  for (const auto& [name, child] : named_children()) {
    out.push_back({name, child});
    for (auto& [sub, m] : child->named_modules()) out.push_back({join(name, sub), m});
  }
  return out;
}

std::shared_ptr<Module> Module::get_module(const std::string& dotted_name) const {
  const auto [parent_path, leaf] = split_last(dotted_name);
  const Module* parent = this;
  std::shared_ptr<Module> holder;  // keeps the parent alive while we look inside it
  if (!parent_path.empty()) {
    holder = get_module(parent_path);
    parent = holder.get();
  }
  for (const auto& c : parent->children_)
    if (c.name == leaf) {
      if (auto m = c.get()) return m;
      break;
    }
  fail(type_name(), ": no module named '", dotted_name, "'");
}

std::shared_ptr<Module> Module::replace_module(const std::string& dotted_name, std::shared_ptr<Module> m) {
  if (!m) fail("replace_module: '", dotted_name, "': the new module is null");
  const auto [parent_path, leaf] = split_last(dotted_name);
  Module* parent = this;
  std::shared_ptr<Module> holder;
  if (!parent_path.empty()) {
    holder = get_module(parent_path);
    parent = holder.get();
  }
  for (auto& c : parent->children_)
    if (c.name == leaf) {
      std::shared_ptr<Module> old = c.get();
      m->train(parent->training_);
      c.set(std::move(m));
      return old;
    }
  fail(type_name(), ": no module named '", dotted_name, "' to replace");
}

void Module::train(bool on) {
  training_ = on;
  for (const auto& c : children_)
    if (auto m = c.get()) m->train(on);
}

void Module::requires_grad(bool on) {
  for (auto& [_, slot] : parameter_slots()) slot->set_requires_grad(on);
}

void Module::zero_grad() {
  for (auto& [_, slot] : parameter_slots()) slot->zero_grad();
}

StateDict Module::state_dict() const {
  StateDict dict;
  for (const auto& [name, slot] : parameter_slots()) dict[name] = slot->value().clone();
  return dict;
}

LoadReport Module::load_state_dict(const StateDict& dict, bool strict) {
  LoadReport report;
  std::set<std::string> known;
  std::vector<std::pair<Var*, const Tensor*>> to_load;
  for (const auto& [name, slot] : parameter_slots()) {
    known.insert(name);
    auto it = dict.find(name);
    if (it == dict.end()) {
      report.missing.push_back(name);
    } else if (it->second.shape() != slot->shape() || it->second.dtype() != slot->value().dtype()) {
      report.mismatched.push_back({name, slot->shape(), it->second.shape()});
      if (it->second.dtype() != slot->value().dtype())
        report.mismatched.back().name += str_cat(" (dtype ", dtype_and_shape(it->second), ")");
    } else {
      to_load.push_back({slot, &it->second});
    }
  }
  for (const auto& [name, _] : dict)
    if (!known.count(name)) report.unexpected.push_back(name);
  if (strict && !report.ok())
    fail("load_state_dict (strict): the state dict does not match the ", type_name(), " (",
         report.missing.size(), " missing, ", report.unexpected.size(), " unexpected, ",
         report.mismatched.size(), " wrong shape); nothing was loaded: ", report.str());
  // Copy into the existing values: every Var (and anything sharing it) sees the new weights.
  for (auto& [slot, t] : to_load) {
    Tensor value = slot->value();  // shares the parameter's storage
    value.copy_(*t);
  }
  return report;
}

void Module::print(const std::string& name, int depth, std::string& out) const {
  out += std::string(2 * depth, ' ') + (name.empty() ? "" : name + ": ") + type_name();
  for (const auto& [pname, slot] : params_) out += str_cat(" ", pname, shape_str(slot->shape()));
  out += "\n";
  for (const auto& [cname, child] : named_children()) child->print(cname, depth + 1, out);
}

std::string Module::str() const {
  std::string out;
  print("", 0, out);
  return out;
}

}  // namespace ld::nn
