#!/usr/bin/env python3
"""Writes llama.cpp's own Q4_K_M / Q5_K_M / Q6_K quantizations of two fixture models, the reference
the `--quant q4|q5|q6` presets are tested against (Tests/LlamaConvertTests/PresetTests.swift).

    /work/venv-llama/bin/python Scripts/make_llamacpp_quant_fixtures.py [--convert .build/debug/llama-convert]

For each model folder (hf-gqa-bf16-sharded: 4 layers, dim 256, ffn 512, every row a whole number of
K blocks; hf-mqa-f16-tied-rope31: 2 layers, dim 128, ffn 320, tied embedding, so the fallbacks and
the output rule on token_embd are exercised):
  1. our converter writes an F32 GGUF (`llama-convert IN /tmp/... --quant f32`): the same float32
     values the presets quantize, so both sides start from identical inputs;
  2. llama-cpp-python's `llama_model_quantize` (the library inside llama-quantize, no imatrix,
     nthread 2) quantizes it with ftype 15 (Q4_K_M), 17 (Q5_K_M), 18 (Q6_K);
  3. gguf-py reads each output and records, per tensor, its ggml type, shape and the CRC-32 of its
     bytes in fixtures/llamacpp-quant/types.json, with `general.file_type` and library versions.
Two more records, types only: "legacy" gives llama.cpp's Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 mixes (ftype 2, 3,
8, 9, 7) of the same two models (our `--quant q4_0` etc. stay one type for every 2-D weight; the
test states where llama.cpp's mixes differ), and "synthetic" gives the Q4_K_M/Q5_K_M types of two
80-layer zero-weight models, dim 256, one with 8 query heads per KV head (llama.cpp's LLM_TYPE_70B:
attn_v Q4_K becomes Q5_K) and one without (a 65B: ordinary rules).
The files themselves are kept as fixtures/llamacpp-quant/MODEL.FTYPE.gguf for the small ones (KEEP,
2.6 MB together); the two larger hf-gqa ones (1.8 and 2.1 MB) are known by their CRC-32s only.
llama_model_quantize loads hyperparameters and tensors but not the vocabulary, so the F32 GGUF
needs no tokenizer keys (checked: it quantizes the files as written).
"""
import argparse
import ctypes
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import gguf
import llama_cpp

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["hf-gqa-bf16-sharded", "hf-mqa-f16-tied-rope31", "hf-copy-of-meta-gqa", "meta-gqa-mp2", "meta-mha-l2-mp2", "meta-copy-of-hf-mqa"]
FTYPES = {"Q4_K_M": 15, "Q5_K_M": 17, "Q6_K": 18}
LEGACY = {"Q4_0": 2, "Q4_1": 3, "Q5_0": 8, "Q5_1": 9, "Q8_0": 7}
SYNTHETIC = {"llama80-gqa": (8, 1), "llama80-mha": (8, 8)}
KEEP = {("hf-gqa-bf16-sharded", "Q4_K_M"), ("hf-mqa-f16-tied-rope31", "Q4_K_M"),
        ("hf-mqa-f16-tied-rope31", "Q5_K_M"), ("hf-mqa-f16-tied-rope31", "Q6_K")}


def quantize(src: Path, dst: Path, ftype: int) -> None:
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = 2
    status = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if status != 0:
        raise SystemExit(f"llama_model_quantize({src}, ftype {ftype}) failed with status {status}")


def synthetic(path: Path, n_head: int, n_kv: int, layers: int = 80, dim: int = 256, ffn: int = 256,
              vocab: int = 256) -> None:
    """An F16 llama GGUF of zeros with realistic row lengths: the type rules read only names,
    layer counts, head counts and row lengths."""
    import numpy as np
    head_dim = dim // n_head
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_context_length(256)
    w.add_embedding_length(dim)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(head_dim)
    w.add_file_type(1)
    z = lambda *shape: np.zeros(shape, dtype=np.float16)
    w.add_tensor("token_embd.weight", z(vocab, dim))
    w.add_tensor("output_norm.weight", np.ones(dim, dtype=np.float32))
    w.add_tensor("output.weight", z(vocab, dim))
    for i in range(layers):
        b = f"blk.{i}."
        w.add_tensor(b + "attn_norm.weight", np.ones(dim, dtype=np.float32))
        w.add_tensor(b + "attn_q.weight", z(n_head * head_dim, dim))
        w.add_tensor(b + "attn_k.weight", z(n_kv * head_dim, dim))
        w.add_tensor(b + "attn_v.weight", z(n_kv * head_dim, dim))
        w.add_tensor(b + "attn_output.weight", z(dim, n_head * head_dim))
        w.add_tensor(b + "ffn_norm.weight", np.ones(dim, dtype=np.float32))
        w.add_tensor(b + "ffn_gate.weight", z(ffn, dim))
        w.add_tensor(b + "ffn_up.weight", z(ffn, dim))
        w.add_tensor(b + "ffn_down.weight", z(dim, ffn))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def types_of(path: Path) -> dict:
    return {t.name: t.tensor_type.name for t in gguf.GGUFReader(str(path)).tensors}


def describe(path: Path) -> dict:
    reader = gguf.GGUFReader(str(path))
    field = reader.fields["general.file_type"]
    file_type = int(field.parts[field.data[0]][0])
    tensors = {}
    for t in reader.tensors:
        data = bytes(t.data.tobytes())
        tensors[t.name] = {
            "type": t.tensor_type.name,
            # PyTorch order, rows first (gguf-py gives ggml order, columns first).
            "shape": [int(x) for x in reversed(t.shape.tolist())],
            "bytes": len(data),
            "crc32": zlib.crc32(data),
        }
    return {"file_type": file_type, "order": [t.name for t in reader.tensors], "tensors": tensors}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--convert", default=str(ROOT / ".build/debug/llama-convert"))
    ap.add_argument("--out", default=str(ROOT / "fixtures/llamacpp-quant"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    llama_cpp.llama_backend_init()
    record = {
        "about": "llama.cpp's llama_model_quantize (no imatrix, nthread 2) of an F32 GGUF written by "
                 "llama-convert --quant f32; per tensor: ggml type, shape (rows first), byte count, CRC-32",
        "versions": {"llama_cpp_python": llama_cpp.__version__, "gguf": getattr(gguf, "__version__", "?")},
        "models": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for model in MODELS:
            f32 = Path(tmp) / f"{model}.f32.gguf"
            subprocess.run([args.convert, str(ROOT / "fixtures" / model), str(f32), "--quant", "f32"],
                           check=True, stdout=subprocess.DEVNULL)
            record["models"][model] = {}
            for name, ftype in FTYPES.items():
                dst = Path(tmp) / f"{model}.{name}.gguf"
                quantize(f32, dst, ftype)
                info = describe(dst)
                info["sha256"] = hashlib.sha256(dst.read_bytes()).hexdigest()
                info["size"] = dst.stat().st_size
                kept = out / dst.name
                if (model, name) in KEEP:
                    shutil.copyfile(dst, kept)
                    info["file"] = kept.name
                elif kept.exists():
                    kept.unlink()
                record["models"][model][name] = info
                print(f"{dst.name}: {info['size']} bytes, file_type {info['file_type']}", file=sys.stderr)
        record["legacy"] = {}
        for model in MODELS:
            f32 = Path(tmp) / f"{model}.f32.gguf"
            record["legacy"][model] = {}
            for name, ftype in LEGACY.items():
                dst = Path(tmp) / f"{model}.{name}.gguf"
                quantize(f32, dst, ftype)
                record["legacy"][model][name] = types_of(dst)
                dst.unlink()
        record["synthetic"] = {}
        for model, (n_head, n_kv) in SYNTHETIC.items():
            src = Path(tmp) / f"{model}.f16.gguf"
            synthetic(src, n_head, n_kv)
            record["synthetic"][model] = {"layers": 80, "dim": 256, "ffn": 256, "vocab": 256,
                                          "n_head": n_head, "n_kv_head": n_kv}
            for name in ("Q4_K_M", "Q5_K_M"):
                dst = Path(tmp) / f"{model}.{name}.gguf"
                quantize(src, dst, FTYPES[name])
                record["synthetic"][model][name] = types_of(dst)
                dst.unlink()
            src.unlink()
    (out / "types.json").write_text(json.dumps(record, indent=1, sort_keys=False) + "\n")


if __name__ == "__main__":
    main()
