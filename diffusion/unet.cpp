// diffusion/unet.cpp: the UNet denoiser eps_theta(x_t, t, y) of Eqs. (1) and (2): down levels
// (keeping skips), middle block, up levels (layout in unet.h and docs/reference-model.md).
#include "diffusion/unet.h"

#include "autograd/ops.h"

// Shapes: B = batch, C = image channels (1), H, W = image height, width (28, 28),
// c0, c1, c2 = channels of levels 0, 1, 2 (32, 64, 128), E = time embedding width (128),
// T = text tokens (16), D = text width (64); numbers in brackets: the reference model mnist-t2i.
// Levels 0, 1, 2 work at H x W, H/2 x W/2, H/4 x W/4 (28x28, 14x14, 7x7).

namespace ld::diffusion {

void UNetLevel::register_children() {
  register_module("res", res);
  if (attn) register_module("attn", attn);
  if (downsample) register_module("downsample", downsample);
  if (upsample) register_module("upsample", upsample);
}

// x (B, cin, H_l, W_l) at the level's resolution, silu_temb (B, E), context (B, T, D), keep (B, T)
// -> (B, cout, H_l, W_l)
ag::Var UNetLevel::blocks(const ag::Var& x, const ag::Var& silu_temb, const ag::Var& context,
                          const Tensor& keep) {
  ag::Var h = res->forward(x, silu_temb);             // (B, cin, H_l, W_l) -> (B, cout, H_l, W_l)
  return attn ? attn->forward(h, context, keep) : h;  // shape kept
}

MidBlock::MidBlock(int64_t c, const ModelConfig& cfg, Generator& gen)
    : res1(nn::make<ResBlock>(c, c, cfg.time_dim, cfg.groups, cfg.dropout, gen)),
      res2(nn::make<ResBlock>(c, c, cfg.time_dim, cfg.groups, cfg.dropout, gen)),
      attn(nn::make<AttnBlock>(c, cfg.heads, cfg.text_dim, cfg.groups, gen)) {
  register_module("res1", res1);
  register_module("attn", attn);
  register_module("res2", res2);
}

// x (B, c2, H/4, W/4) -> (B, c2, H/4, W/4): res1, attn, res2 all keep the shape
ag::Var MidBlock::forward(const ag::Var& x, const ag::Var& st, const ag::Var& context, const Tensor& keep) {
  return res2->forward(attn->forward(res1->forward(x, st), context, keep), st);
}

UNet::UNet(const ModelConfig& cfg, Generator& gen) {
  const int64_t c0 = cfg.channels[0], c1 = cfg.channels[1], c2 = cfg.channels[2];
  auto res = [&](int64_t cin, int64_t cout) {
    return nn::make<ResBlock>(cin, cout, cfg.time_dim, cfg.groups, cfg.dropout, gen);
  };
  auto attn = [&](int64_t c) { return nn::make<AttnBlock>(c, cfg.heads, cfg.text_dim, cfg.groups, gen); };
  auto level = [](std::shared_ptr<ResBlock> r, std::shared_ptr<AttnBlock> a, std::shared_ptr<Downsample> d,
                  std::shared_ptr<Upsample> u) {
    auto l = nn::make<UNetLevel>();
    l->res = std::move(r);
    l->attn = std::move(a);
    l->downsample = std::move(d);
    l->upsample = std::move(u);
    l->register_children();
    return l;
  };
  // construction order = parameter order = the order the reference lists them
  time_mlp = nn::make<TimeMLP>(cfg.time_freq_dim, cfg.time_dim, gen);
  conv_in = nn::make<nn::Conv2d>(cfg.image_channels, c0, 3, 1, 1, true, gen);
  down0 = level(res(c0, c0), nullptr, nn::make<Downsample>(c0, gen), nullptr);
  down1 = level(res(c0, c1), attn(c1), nn::make<Downsample>(c1, gen), nullptr);
  down2 = level(res(c1, c2), attn(c2), nullptr, nullptr);
  mid = nn::make<MidBlock>(c2, cfg, gen);
  up2 = level(res(c2 + c2, c2), attn(c2), nullptr, nn::make<Upsample>(c2, gen));
  up1 = level(res(c2 + c1, c1), attn(c1), nullptr, nn::make<Upsample>(c1, gen));
  up0 = level(res(c1 + c0, c0), nullptr, nullptr, nullptr);
  out_norm = nn::make<nn::GroupNorm>(cfg.groups, c0);
  out_conv = nn::make<nn::Conv2d>(c0, cfg.image_channels, 3, 1, 1, true, gen);
  register_module("time_mlp", time_mlp);
  register_module("conv_in", conv_in);
  register_module("down0", down0);
  register_module("down1", down1);
  register_module("down2", down2);
  register_module("mid", mid);
  register_module("up2", up2);
  register_module("up1", up1);
  register_module("up0", up0);
  register_module("out_norm", out_norm);
  register_module("out_conv", out_conv);
}

// x_t (B, C, H, W), t (B) I32, ctx (B, T, D), keep (B, T) -> eps (B, C, H, W)
ag::Var UNet::forward(const ag::Var& x, const Tensor& t, const ag::Var& ctx, const Tensor& keep) {
  if (x.dim() != 4) fail("UNet: x_t ", shape_str(x.shape()), " must be (B, C, H, W)");
  if (x.size(2) % 4 != 0 || x.size(3) % 4 != 0)
    fail("UNet: image ", x.size(2), "x", x.size(3), " must have sides divisible by 4");
  if (t.numel() != x.size(0)) fail("UNet: ", t.numel(), " timesteps for a batch of ", x.size(0));
  const ag::Var st = ag::silu(time_mlp->forward(t));  // (B) -> (B, E): SiLU(temb), shared by every ResBlock

  ag::Var h = conv_in->forward(x);                        // (B, C, H, W) -> (B, c0, H, W)
  const ag::Var skip0 = down0->blocks(h, st, ctx, keep);  // (B, c0, H, W)
  h = down0->downsample->forward(skip0);                  // -> (B, c0, H/2, W/2)
  const ag::Var skip1 = down1->blocks(h, st, ctx, keep);  // -> (B, c1, H/2, W/2)
  h = down1->downsample->forward(skip1);                  // -> (B, c1, H/4, W/4)
  const ag::Var skip2 = down2->blocks(h, st, ctx, keep);  // -> (B, c2, H/4, W/4)
  h = mid->forward(skip2, st, ctx, keep);                 // (B, c2, H/4, W/4)
  // up2: cat -> (B, c2 + c2, H/4, W/4), blocks -> (B, c2, H/4, W/4), upsample -> (B, c2, H/2, W/2)
  h = up2->upsample->forward(up2->blocks(ag::concat({h, skip2}, 1), st, ctx, keep));
  // up1: cat -> (B, c2 + c1, H/2, W/2), blocks -> (B, c1, H/2, W/2), upsample -> (B, c1, H, W)
  h = up1->upsample->forward(up1->blocks(ag::concat({h, skip1}, 1), st, ctx, keep));
  h = up0->blocks(ag::concat({h, skip0}, 1), st, ctx, keep);  // (B, c1 + c0, H, W) -> (B, c0, H, W)
  return out_conv->forward(out_norm->forward_silu(h));        // (B, c0, H, W) -> (B, C, H, W)
}

}  // namespace ld::diffusion
