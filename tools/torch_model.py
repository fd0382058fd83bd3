#!/usr/bin/python3
"""tools/torch_model.py: the mnist-t2i text-to-image model of docs/reference-model.md,
written independently in PyTorch (Debian's python3-torch), layer for layer, with the
same parameter names as loradiff, so a loradiff checkpoint loads with strict=True and
eps_theta(x_t, t, y) can be compared number for number.

    /usr/bin/python3 tools/torch_model.py --make-fixture tests/fixtures/mnist_t2i_tiny_torch.safetensors
        random mnist-t2i-tiny weights (norms randomised too) + inputs + PyTorch's eps_theta and
        the gradients of loss = sum(eps * R): the fixture tests/diffusion/test_torch_fixture.cpp reads
    /usr/bin/python3 tools/torch_model.py --make-fixture tests/fixtures/shapes_t2i_tiny_torch.safetensors \
            --fixture-config shapes-t2i-tiny
        the same for the colour layout (32x32x3, the shapes grammar's 26-entry vocabulary)
    /usr/bin/python3 tools/torch_model.py --check CKPT --inputs FILE [--config NAME_OR_JSON]
        load a loradiff checkpoint, run eps_theta on FILE's input.* tensors, print the largest
        difference to FILE's output.eps (and to its grad.* tensors, when present). CKPT and FILE
        may be the same file (the fixture holds both).
    /usr/bin/python3 tools/torch_model.py --make-lora-fixture tests/fixtures/mnist_t2i_tiny_torch_lora.safetensors
        a random LoRA adapter (loradiff's layout, rank 2, alpha 3: UNet attention, the text encoder's
        attention and one conv) for the weights of the fixture above, and PyTorch's eps_theta on the
        same inputs with the adapter applied at weight 0.7 (Eq. (LoRA), W' = W + w (alpha / r) B A):
        the fixture the last cases of tests/diffusion/test_torch_fixture.cpp read
    --check CKPT ... --lora ADAPTER:W applies an adapter file (loradiff, kohya or PEFT layout) at weight W.

The safetensors format is read and written by hand (struct + json): the `safetensors`
package is not installed here. The config comes from the checkpoint's metadata
("config": the ModelConfig as JSON) unless --config is given; the vocabulary size is the
config's vocab_size, else the length of the metadata's "vocab", else the rows of
text.tok_emb.weight.
"""
import argparse
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


# ----------------------------------------------------------------------------- config

def load_config(name_or_path):
    """A built-in name (configs/NAME.json) or a path to a JSON file, as loradiff's load_config."""
    path = name_or_path
    if not os.path.exists(path):
        path = os.path.join(REPO, "configs", name_or_path + ".json")
    with open(path) as f:
        return json.load(f)


def vocab_size_of_repo():
    """data/vocab.txt holds one word per line, <pad> <bos> <unk> first: its line count is V."""
    path = os.path.join(REPO, "data", "vocab.txt")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return len([w for w in f.read().split("\n") if w != ""])


# ----------------------------------------------------------------------------- layers

class MultiHeadAttention(nn.Module):
    """to_q, to_k, to_v, to_out; heads split as (B, L, H*d) -> (B, H, L, d); scale 1/sqrt(d);
    keys where keep == 0 get -inf before the softmax."""

    def __init__(self, dim, heads, context_dim=None, qkv_bias=False, out_bias=True):
        super().__init__()
        context_dim = context_dim or dim
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=qkv_bias)
        self.to_k = nn.Linear(context_dim, dim, bias=qkv_bias)
        self.to_v = nn.Linear(context_dim, dim, bias=qkv_bias)
        self.to_out = nn.Linear(dim, dim, bias=out_bias)

    def forward(self, x, context=None, keep=None):
        c = x if context is None else context
        B, Lq, D = x.shape
        H, d = self.heads, D // self.heads

        def split(t):
            return t.reshape(B, t.shape[1], H, d).permute(0, 2, 1, 3)

        q, k, v = split(self.to_q(x)), split(self.to_k(c)), split(self.to_v(c))
        s = q @ k.transpose(-1, -2) / math.sqrt(d)  # (B, H, Lq, Lk)
        if keep is not None:
            s = s.masked_fill(~keep[:, None, None, :], float("-inf"))
        o = torch.softmax(s, dim=-1) @ v
        return self.to_out(o.permute(0, 2, 1, 3).reshape(B, Lq, D))


class FeedForward(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))  # exact erf GELU (PyTorch's default)


class TransformerLayer(nn.Module):
    def __init__(self, dim, heads, ff_dim):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn = MultiHeadAttention(dim, heads, qkv_bias=True, out_bias=True)
        self.ln2 = nn.LayerNorm(dim, eps=1e-5)
        self.ff = FeedForward(dim, ff_dim)

    def forward(self, h, keep):
        h = h + self.attn(self.ln1(h), keep=keep)
        return h + self.ff(self.ln2(h))


class TextEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D = cfg["text_dim"]
        self.tok_emb = nn.Embedding(cfg["vocab_size"], D)
        self.pos_emb = nn.Embedding(cfg["max_tokens"], D)
        self.layers = nn.ModuleList(
            [TransformerLayer(D, cfg["text_heads"], cfg["text_ff_dim"]) for _ in range(cfg["text_layers"])])
        self.ln_final = nn.LayerNorm(D, eps=1e-5)

    def forward(self, ids):
        keep = ids != 0  # <pad> keys are masked
        pos = torch.arange(ids.shape[1], device=ids.device)
        h = self.tok_emb(ids) + self.pos_emb(pos)[None]
        for layer in self.layers:
            h = layer(h, keep)
        return self.ln_final(h), keep


def sinusoidal(t, dim):
    """[sin(t f_0..f_{h-1}), cos(t f_0..f_{h-1})], f_i = exp(-ln(10000) i / h), h = dim / 2 (float64 then float32)."""
    half = dim // 2
    f = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / half)
    a = t.to(torch.float64)[:, None] * f[None]
    return torch.cat([torch.sin(a), torch.cos(a)], dim=1).to(torch.float32)


class TimeMLP(nn.Module):
    def __init__(self, freq_dim, dim):
        super().__init__()
        self.freq_dim = freq_dim
        self.fc1 = nn.Linear(freq_dim, dim)
        self.fc2 = nn.Linear(dim, dim)

    def forward(self, t):
        return self.fc2(F.silu(self.fc1(sinusoidal(t, self.freq_dim).to(self.fc1.weight.device))))


class ResBlock(nn.Module):
    def __init__(self, cin, cout, time_dim, groups, dropout):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=1e-5)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_proj = nn.Linear(time_dim, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=1e-5)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, silu_temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_proj(silu_temb)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return h + (self.skip(x) if self.skip is not None else x)


class AttnBlock(nn.Module):
    def __init__(self, c, heads, context_dim, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, c, eps=1e-5)
        self.proj_in = nn.Conv2d(c, c, 1)
        self.ln1 = nn.LayerNorm(c, eps=1e-5)
        self.self_attn = MultiHeadAttention(c, heads, qkv_bias=False, out_bias=True)
        self.ln2 = nn.LayerNorm(c, eps=1e-5)
        self.cross_attn = MultiHeadAttention(c, heads, context_dim, qkv_bias=False, out_bias=True)
        self.ln3 = nn.LayerNorm(c, eps=1e-5)
        self.ff = FeedForward(c, 4 * c)
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x, context, keep):
        B, C, H, W = x.shape
        h = self.proj_in(self.norm(x)).reshape(B, C, H * W).permute(0, 2, 1)  # (B, HW, C)
        h = h + self.self_attn(self.ln1(h))
        h = h + self.cross_attn(self.ln2(h), context, keep)
        h = h + self.ff(self.ln3(h))
        h = h.permute(0, 2, 1).reshape(B, C, H, W)
        return x + self.proj_out(h)


class Downsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class Level(nn.Module):
    """A ResBlock, optionally an AttnBlock, optionally a resampler (applied by the UNet)."""

    def __init__(self, res, attn=None, downsample=None, upsample=None):
        super().__init__()
        self.res = res
        if attn is not None:
            self.attn = attn
        if downsample is not None:
            self.downsample = downsample
        if upsample is not None:
            self.upsample = upsample

    def blocks(self, x, st, ctx, keep):
        h = self.res(x, st)
        return self.attn(h, ctx, keep) if hasattr(self, "attn") else h


class MidBlock(nn.Module):
    def __init__(self, c, cfg):
        super().__init__()
        self.res1 = ResBlock(c, c, cfg["time_dim"], cfg["groups"], cfg["dropout"])
        self.attn = AttnBlock(c, cfg["heads"], cfg["text_dim"], cfg["groups"])
        self.res2 = ResBlock(c, c, cfg["time_dim"], cfg["groups"], cfg["dropout"])

    def forward(self, x, st, ctx, keep):
        return self.res2(self.attn(self.res1(x, st), ctx, keep), st)


class UNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c0, c1, c2 = cfg["channels"]
        G, td, p = cfg["groups"], cfg["time_dim"], cfg["dropout"]

        def res(a, b):
            return ResBlock(a, b, td, G, p)

        def attn(c):
            return AttnBlock(c, cfg["heads"], cfg["text_dim"], G)

        self.time_mlp = TimeMLP(cfg["time_freq_dim"], td)
        self.conv_in = nn.Conv2d(cfg["image_channels"], c0, 3, padding=1)
        self.down0 = Level(res(c0, c0), downsample=Downsample(c0))
        self.down1 = Level(res(c0, c1), attn(c1), downsample=Downsample(c1))
        self.down2 = Level(res(c1, c2), attn(c2))
        self.mid = MidBlock(c2, cfg)
        self.up2 = Level(res(c2 + c2, c2), attn(c2), upsample=Upsample(c2))
        self.up1 = Level(res(c2 + c1, c1), attn(c1), upsample=Upsample(c1))
        self.up0 = Level(res(c1 + c0, c0))
        self.out_norm = nn.GroupNorm(G, c0, eps=1e-5)
        self.out_conv = nn.Conv2d(c0, cfg["image_channels"], 3, padding=1)

    def forward(self, x, t, ctx, keep):
        st = F.silu(self.time_mlp(t))
        h = self.conv_in(x)
        skip0 = self.down0.blocks(h, st, ctx, keep)
        h = self.down0.downsample(skip0)
        skip1 = self.down1.blocks(h, st, ctx, keep)
        h = self.down1.downsample(skip1)
        skip2 = self.down2.blocks(h, st, ctx, keep)
        h = self.mid(skip2, st, ctx, keep)
        h = self.up2.upsample(self.up2.blocks(torch.cat([h, skip2], 1), st, ctx, keep))
        h = self.up1.upsample(self.up1.blocks(torch.cat([h, skip1], 1), st, ctx, keep))
        h = self.up0.blocks(torch.cat([h, skip0], 1), st, ctx, keep)
        return self.out_conv(F.silu(self.out_norm(h)))


class TextToImageModel(nn.Module):
    """eps_theta(x_t, t, y): x_t (B, C, H, W) float32, t (B) integer, ids (B, max_tokens) integer."""

    def __init__(self, cfg):
        super().__init__()
        self.config = dict(cfg)
        self.text = TextEncoder(cfg)
        self.unet = UNet(cfg)

    def forward(self, x_t, t, ids):
        ids = ids.long()
        ctx, keep = self.text(ids)
        return self.unet(x_t, t, ctx, keep)


# ----------------------------------------------------------------------------- safetensors

ST_DTYPES = {"F32": (torch.float32, 4), "I32": (torch.int32, 4), "F64": (torch.float64, 8),
             "I64": (torch.int64, 8), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2)}
TORCH_TO_ST = {v[0]: k for k, v in ST_DTYPES.items()}


def load_safetensors(path):
    """-> ({name: tensor}, metadata dict). F16/BF16/F64 come back as float32, I64 as int64."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    body = data[8 + n:]
    meta = header.pop("__metadata__", None) or {}
    out = {}
    for name, e in header.items():
        if e["dtype"] not in ST_DTYPES:
            raise ValueError(f"{path}: tensor {name}: dtype {e['dtype']} not supported here")
        dt, _ = ST_DTYPES[e["dtype"]]
        b, end = e["data_offsets"]
        raw = bytearray(body[b:end])
        if dt == torch.bfloat16:
            t = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16) if raw else torch.empty(0, dtype=dt)
        else:
            t = torch.frombuffer(raw, dtype=dt) if raw else torch.empty(0, dtype=dt)
        t = t.reshape(e["shape"])
        if t.is_floating_point() and t.dtype != torch.float32:
            t = t.float()
        out[name] = t.clone()
    return out, meta


def save_safetensors(path, tensors, metadata=None):
    """F32 / I32 tensors, keys sorted, compact JSON header padded to 8 bytes (as loradiff writes)."""
    header = {}
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        if t.dtype not in (torch.float32, torch.int32):
            t = t.float() if t.is_floating_point() else t.to(torch.int32)
        b = t.numpy().tobytes()  # little-endian on every machine this runs on
        header[name] = {"dtype": TORCH_TO_ST[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def parse_metadata_json(meta, key):
    v = meta.get(key)
    if v is None:
        return None
    try:
        return json.loads(v)
    except (TypeError, ValueError):
        return v


def model_from_checkpoint(path, config=None):
    """Build the model a loradiff checkpoint describes and load its weights (strict).
    Tensors named input.* / output.* / grad.* (fixture extras) are set aside and returned."""
    tensors, meta = load_safetensors(path)
    cfg = load_config(config) if config else parse_metadata_json(meta, "config")
    if not isinstance(cfg, dict):
        raise SystemExit(f"{path}: no usable 'config' in the metadata; pass --config")
    cfg = dict(cfg)
    weights = {k: v for k, v in tensors.items() if k.split(".", 1)[0] in ("text", "unet")}
    extras = {k: v for k, v in tensors.items() if k not in weights}
    if not cfg.get("vocab_size"):
        vocab = parse_metadata_json(meta, "vocab")
        if isinstance(vocab, list):
            cfg["vocab_size"] = len(vocab)
        elif isinstance(vocab, str):
            cfg["vocab_size"] = len([w for w in vocab.split("\n") if w])
        else:
            cfg["vocab_size"] = weights["text.tok_emb.weight"].shape[0]
    model = TextToImageModel(cfg)
    model.load_state_dict(weights, strict=True)
    return model, cfg, meta, extras


# ----------------------------------------------------------------------------- fixture

GRAD_NAMES = [  # a parameter from each kind of layer, text to output
    "text.tok_emb.weight", "text.pos_emb.weight", "text.layers.0.attn.to_q.weight", "text.layers.0.ln1.weight",
    "text.ln_final.bias", "unet.time_mlp.fc1.weight", "unet.conv_in.weight", "unet.down0.res.norm1.weight",
    "unet.down0.res.time_proj.weight", "unet.down1.attn.self_attn.to_k.weight",
    "unet.down1.attn.cross_attn.to_v.weight", "unet.down1.attn.ln2.bias", "unet.down1.downsample.conv.weight",
    "unet.mid.attn.ff.fc1.weight", "unet.mid.res2.conv2.bias", "unet.up2.res.skip.weight",
    "unet.up2.upsample.conv.weight", "unet.up1.attn.proj_out.weight", "unet.up0.res.conv1.weight",
    "unet.out_norm.weight", "unet.out_conv.weight", "unet.out_conv.bias",
]


def randomise(model, gen):
    """PyTorch's default init, then every norm's gamma and beta and every bias moved off
    1 / 0, so no layer is an identity and a wrong convention cannot hide."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            is_norm = any(k in name for k in (".ln", "norm", "ln_final"))
            if is_norm and name.endswith(".weight"):
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            elif name.endswith("emb.weight"):
                p.copy_(torch.randn(p.shape, generator=gen))


# The shapes grammar's vocabulary (loradiff's data/shapes.cpp shapes_vocabulary(), docs/data.md):
# the three reserved entries, then its 23 words in this order.
SHAPES_VOCAB = ["<pad>", "<bos>", "<unk>", "a", "small", "large", "red", "green", "blue", "yellow", "cyan",
                "magenta", "circle", "square", "triangle", "cross", "at", "the", "top", "bottom", "left", "right",
                "centre", "of", "above", "below"]


def fixture_vocab(cfg):
    """The words a fixture's model is built for: the shapes grammar for a shapes-t2i* config (colour),
    else the project's MNIST vocabulary (data/vocab.txt)."""
    if cfg["name"].startswith("shapes"):
        return SHAPES_VOCAB
    vpath = os.path.join(REPO, "data", "vocab.txt")
    if os.path.exists(vpath):
        return [w for w in open(vpath).read().split("\n") if w]
    return None


def make_fixture(out, config="mnist-t2i-tiny"):
    cfg = load_config(config)
    cfg.pop("description", None)
    vocab = fixture_vocab(cfg)
    cfg["vocab_size"] = len(vocab) if vocab else 40
    torch.manual_seed(1234)
    gen = torch.Generator().manual_seed(1234)
    model = TextToImageModel(cfg)
    randomise(model, gen)
    model.eval()

    B, L = 2, cfg["max_tokens"]
    S, C = cfg["image_size"], cfg["image_channels"]
    x_t = torch.randn(B, C, S, S, generator=gen)
    t = torch.tensor([17, 803], dtype=torch.int32)
    ids = torch.zeros(B, L, dtype=torch.int32)
    V = cfg["vocab_size"]
    captions = [[1, 13, 16, 17, 10], [1, 15, 20, 24, 17, 5, 3, 12, 6]]  # <bos> + words, different lengths
    for b, cap in enumerate(captions):
        ids[b, :len(cap)] = torch.tensor([min(w, V - 1) for w in cap], dtype=torch.int32)
    R = torch.randn(B, C, S, S, generator=gen)

    eps = model(x_t, t.long(), ids)
    (eps * R).sum().backward()  # loss whose gradient wrt eps is R

    tensors = {k: v.detach().clone() for k, v in model.state_dict().items()}
    tensors.update({"input.x_t": x_t, "input.t": t, "input.ids": ids, "input.R": R, "output.eps": eps.detach()})
    params = dict(model.named_parameters())
    for n in GRAD_NAMES:
        tensors["grad." + n] = params[n].grad.detach().clone()
    meta = {"format": "loradiff", "config": json.dumps(cfg), "vocab": json.dumps(vocab or [str(i) for i in range(V)]),
            "generator": "tools/torch_model.py --make-fixture (PyTorch %s)" % torch.__version__,
            "note": "grad.NAME = d/dNAME sum(output.eps * input.R), eval mode"}
    save_safetensors(out, tensors, meta)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"wrote {out}: {cfg['name']} V={V}, {n_params} parameters, max |eps| {eps.abs().max().item():.4f}, "
          f"{os.path.getsize(out)} bytes")


# ----------------------------------------------------------------------------- LoRA adapters

def read_adapter(path):
    """An adapter file in loradiff's, kohya's or PEFT's layout -> ({module name: (A, B)}, alpha, tensors
    left over). A is (r, in) or (r, in, k, k), B (out, r) or (out, r, 1, 1); kohya's names are resolved
    against `module_names` later (see apply_adapter)."""
    if os.path.isdir(path):
        path = os.path.join(path, "adapter_model.safetensors")
    tensors, meta = load_safetensors(path)
    layers, extras, alpha = {}, {}, None
    if "alpha" in meta:
        alpha = float(meta["alpha"])
    cfg_path = os.path.join(os.path.dirname(path), "adapter_config.json")
    for name, t in tensors.items():
        for suf, which in ((".lora_A.weight", 0), (".lora_B.weight", 1), (".lora_down.weight", 0),
                           (".lora_up.weight", 1), (".alpha", 2)):
            if name.endswith(suf):
                key = name[: -len(suf)]
                if key.startswith("base_model.model."):
                    key = key[len("base_model.model."):]
                layers.setdefault(key, [None, None, None])[which] = t
                break
        else:
            extras[name] = t
    if alpha is None and os.path.exists(cfg_path):
        alpha = float(json.load(open(cfg_path)).get("lora_alpha", 8))
    return layers, alpha, extras


def apply_adapter(model, path, weight):
    """Attach the adapter to `model` with forward hooks, unmerged, as Eq. (LoRA) reads:
    y = W0 x + b + w (alpha / r) B (A x). Returns the hook handles."""
    layers, alpha, _ = read_adapter(path)
    modules = dict(model.named_modules())
    kohya = {}
    for n in modules:
        head, _, rest = n.partition(".")
        kohya[{"unet": "lora_unet_", "text": "lora_te_"}.get(head, "lora_") + rest.replace(".", "_")] = n
    handles = []
    for key, (A, B, a_t) in layers.items():
        name = key if key in modules else kohya.get(key)
        if name is None:
            raise SystemExit(f"{path}: layer {key} is not a module of the model")
        m = modules[name]
        r = A.shape[0]
        a = float(a_t.reshape(-1)[0]) if a_t is not None else (alpha if alpha is not None else float(r))
        scale = weight * a / r

        def hook(mod, inp, out, A=A, B=B, scale=scale):
            x = inp[0]
            if isinstance(mod, nn.Conv2d):
                h = F.conv2d(x, A, stride=mod.stride, padding=mod.padding)
                return out + scale * F.conv2d(h, B)
            return out + scale * F.linear(F.linear(x, A), B)

        handles.append(m.register_forward_hook(hook))
    return handles


LORA_TARGETS = ("self_attn.to_q", "self_attn.to_k", "self_attn.to_v", "self_attn.to_out",
                "cross_attn.to_q", "cross_attn.to_k", "cross_attn.to_v", "cross_attn.to_out")


def make_lora_fixture(out, base=None, weight=0.7):
    base = base or os.path.join(REPO, "tests", "fixtures", "mnist_t2i_tiny_torch.safetensors")
    model, cfg, meta, extras = model_from_checkpoint(base)
    model.eval()
    gen = torch.Generator().manual_seed(4321)
    rank, alpha = 2, 3.0
    adapter = {}
    for name, m in model.named_modules():
        te = name.startswith("text.") and name.split(".")[-1] in ("to_q", "to_k", "to_v", "to_out")
        unet = name.startswith("unet.") and any(name.endswith(t) for t in LORA_TARGETS)
        if te or unet:
            fan_in = m.weight.shape[1]
            adapter[name + ".lora_A.weight"] = torch.randn(rank, fan_in, generator=gen) / math.sqrt(fan_in)
            adapter[name + ".lora_B.weight"] = 0.3 * torch.randn(m.weight.shape[0], rank, generator=gen)
    conv = model.get_submodule("unet.mid.res1.conv1")  # a Conv2d: 4-D A and B (LoCon)
    cin, k = conv.weight.shape[1], conv.weight.shape[2]
    adapter["unet.mid.res1.conv1.lora_A.weight"] = torch.randn(rank, cin, k, k, generator=gen) / math.sqrt(cin * k * k)
    adapter["unet.mid.res1.conv1.lora_B.weight"] = 0.3 * torch.randn(conv.weight.shape[0], rank, 1, 1, generator=gen)
    targets = sorted({n.rsplit(".lora_", 1)[0] for n in adapter})
    ameta = {"format": "loradiff-lora", "rank": str(rank), "alpha": "3", "targets": json.dumps(targets),
             "layers": str(len(targets)), "base_config": meta.get("config", ""),
             "generator": "tools/torch_model.py --make-lora-fixture (PyTorch %s)" % torch.__version__,
             "note": "output.eps = eps_theta of the base fixture's weights with this adapter at weight %g on its "
                     "input.x_t, input.t, input.ids" % weight}
    tmp = out + ".adapter.tmp"
    save_safetensors(tmp, adapter, ameta)
    handles = apply_adapter(model, tmp, weight)
    with torch.no_grad():
        eps = model(extras["input.x_t"].float(), extras["input.t"].long(), extras["input.ids"])
        for h in handles:
            h.remove()
        eps0 = model(extras["input.x_t"].float(), extras["input.t"].long(), extras["input.ids"])
    os.remove(tmp)
    tensors = dict(adapter)
    tensors["output.eps"] = eps
    save_safetensors(out, tensors, ameta)
    print(f"wrote {out}: {len(targets)} layers, rank {rank}, alpha {alpha}, weight {weight}; max |eps| "
          f"{eps.abs().max().item():.4f}, max |eps - eps_base| {(eps - eps0).abs().max().item():.4f}, "
          f"{os.path.getsize(out)} bytes")


# ----------------------------------------------------------------------------- check

def check(ckpt, inputs, config=None, tol=1e-4, loras=()):
    model, cfg, meta, extras = model_from_checkpoint(ckpt, config)
    model.eval()
    for spec in loras:
        path, _, w = spec.rpartition(":")
        if not path:
            path, w = w, "1"
        apply_adapter(model, path, float(w))
    if inputs != ckpt:
        extras, _ = load_safetensors(inputs)
    x_t, t, ids = extras["input.x_t"].float(), extras["input.t"].long(), extras["input.ids"]
    eps = model(x_t, t, ids)
    n = sum(p.numel() for p in model.parameters())
    print(f"{ckpt}: {cfg.get('name', '?')} V={cfg['vocab_size']}, {n} parameters; inputs {list(x_t.shape)}")
    worst = 0.0
    if "output.eps" in extras:
        ref = extras["output.eps"]
        d = (eps.detach() - ref).abs().max().item()
        scale = ref.abs().max().item()
        print(f"eps_theta: max |torch - file| = {d:.3e} (max |eps| {scale:.3f})")
        worst = max(worst, d / max(scale, 1.0))
    else:
        print("no output.eps in", inputs, "- eps_theta computed only; max |eps| =", eps.abs().max().item())
    grads = {k[len("grad."):]: v for k, v in extras.items() if k.startswith("grad.")}
    if grads and "input.R" in extras:
        (eps * extras["input.R"]).sum().backward()
        params = dict(model.named_parameters())
        for name, g in sorted(grads.items()):
            d = (params[name].grad - g).abs().max().item()
            scale = g.abs().max().item()
            print(f"grad {name}: max |torch - file| = {d:.3e} (max |g| {scale:.3e})")
            worst = max(worst, d / max(scale, 1.0))
    ok = worst <= tol
    print("OK" if ok else "MISMATCH", f"(worst difference relative to max(1, max |ref|): {worst:.3e}, tolerance {tol})")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--make-fixture", metavar="OUT")
    ap.add_argument("--fixture-config", default="mnist-t2i-tiny")
    ap.add_argument("--check", metavar="CKPT")
    ap.add_argument("--inputs", metavar="FILE")
    ap.add_argument("--config", help="config name or JSON path (default: the checkpoint's metadata)")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--make-lora-fixture", metavar="OUT")
    ap.add_argument("--lora", action="append", default=[], metavar="ADAPTER:W",
                    help="with --check: apply an adapter file at weight W (repeatable)")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("LORADIFF_NUM_THREADS", "2")))
    if args.make_fixture:
        make_fixture(args.make_fixture, args.fixture_config)
    elif args.make_lora_fixture:
        make_lora_fixture(args.make_lora_fixture)
    elif args.check:
        sys.exit(0 if check(args.check, args.inputs or args.check, args.config, args.tol, args.lora) else 1)
    else:
        ap.print_help()
        sys.exit(2)


if __name__ == "__main__":
    main()
