#!/usr/bin/python3
"""Writes tests/fixtures/python.safetensors the way Hugging Face's `safetensors`
library does (that package is not installed here, so the format rules are
followed by hand, from the specification and the reference implementation):

  - 8-byte little-endian unsigned header length N, then N bytes of JSON;
  - the JSON is compact (no spaces), "__metadata__" (a string -> string map) first,
    then one entry per tensor {"dtype", "shape", "data_offsets": [begin, end]};
  - tensors are laid out sorted by dtype (larger dtypes of the library's enum order
    first) and then by name, back to back, each data_offsets relative to the data start;
  - the header is padded with spaces so that the data starts 8-byte aligned;
  - data is raw little-endian, row-major (C order).

It also writes tests/fixtures/python_safetensors.json with the values the C++
reader must produce (F16, BF16, F64 as float32; I64 as int32).

  /usr/bin/python3 tools/make_safetensors_fixture.py           write the fixture
  /usr/bin/python3 tools/make_safetensors_fixture.py FILE      read FILE per the spec and print it
                                                               (checks files written by loradiff)
"""
import json
import os
import struct
import sys

import torch

# The library's Dtype enum order; the writer sorts larger ones first.
DTYPE_ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64",
               "I64", "U64"]
TORCH_TO_ST = {torch.float32: "F32", torch.int32: "I32", torch.float16: "F16", torch.bfloat16: "BF16",
               torch.float64: "F64", torch.int64: "I64"}
ST_TO_TORCH = {v: k for k, v in TORCH_TO_ST.items()}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: reinterpret as int16
        t = t.view(torch.int16)
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def save(tensors, metadata, path):
    items = sorted(tensors.items(), key=lambda kv: (-DTYPE_ORDER.index(TORCH_TO_ST[kv[1].dtype]), kv[0]))
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    offset = 0
    blobs = []
    for name, t in items:
        b = tensor_bytes(t)
        header[name] = {"dtype": TORCH_TO_ST[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def load(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    body = data[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        dt = ST_TO_TORCH[e["dtype"]]
        raw = bytearray(body[b:end])
        if dt == torch.bfloat16:
            t = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16) if raw else torch.empty(0, dtype=dt)
        else:
            t = torch.frombuffer(raw, dtype=dt) if raw else torch.empty(0, dtype=dt)
        out[name] = t.reshape(e["shape"])
    return out, meta


def main():
    if len(sys.argv) > 1:
        tensors, meta = load(sys.argv[1])
        print("metadata:", meta)
        for name, t in sorted(tensors.items()):
            print(name, t.dtype, list(t.shape), t.reshape(-1)[:8].tolist())
        return
    tensors = {
        "emb.weight": torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8 - 0.5,
        "ids": torch.tensor([0, 1, -7, 2147483647, -2147483648], dtype=torch.int32),
        "half": torch.tensor([[0.5, -2.0, 65504.0], [6e-8, 1 / 3, -0.0]], dtype=torch.float16),
        "bf": torch.tensor([1.0, -3.140625, 1e30, 2 ** -130], dtype=torch.bfloat16),
        "dbl": torch.tensor([[0.1, -1e-3], [12345.678, 1e-40]], dtype=torch.float64),
        "big": torch.tensor([5, -6, 2 ** 31 - 1], dtype=torch.int64),
        "scalar": torch.tensor(2.5, dtype=torch.float32),
        "empty": torch.zeros(0, 3, dtype=torch.float32),
    }
    metadata = {"format": "pt", "config": json.dumps({"channels": 32, "name": "tiny"})}
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
    save(tensors, metadata, os.path.join(here, "python.safetensors"))
    expected = {"metadata": metadata, "tensors": {}}
    for name, t in tensors.items():
        as32 = t.to(torch.int32) if not t.is_floating_point() else t.to(torch.float32)
        expected["tensors"][name] = {"dtype": "I32" if not t.is_floating_point() else "F32", "shape": list(t.shape),
                                     "values": [float(v) if t.is_floating_point() else int(v)
                                                for v in as32.reshape(-1).tolist()]}
    with open(os.path.join(here, "python_safetensors.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    # read it back per the spec, as a self-check of the writer above
    back, meta = load(os.path.join(here, "python.safetensors"))
    assert meta == metadata
    for name, t in tensors.items():
        assert torch.equal(back[name], t), name
    print("wrote", os.path.normpath(os.path.join(here, "python.safetensors")))


if __name__ == "__main__":
    main()
