"""Generate the test fixtures of llama-convert (tiny random Llama checkpoints).

Run from the repository root:

    /work/venv/bin/python Scripts/make_fixtures.py [--out fixtures] [--py4 /work/venv4/bin/python]

Needs two venvs (outside the repo):
  /work/venv   torch 2.13.0+cpu, transformers 5.x, safetensors, numpy, backports-zstd
               python3 -m venv /work/venv && /work/venv/bin/pip install 'torch==2.13.0+cpu' \
                   transformers tokenizers sentencepiece safetensors numpy backports-zstd
  /work/venv4  torch 2.13.0+cpu, transformers 4.55.4 (the last 4.x that writes the
               old config style: top-level rope_theta + rope_scaling, torch_dtype)
               python3 -m venv /work/venv4 && /work/venv4/bin/pip install 'torch==2.13.0+cpu' \
                   'transformers==4.55.4' safetensors numpy
               Used only for fixture 2, through Scripts/_hf4_save.py.

Everything is deterministic (fixed seeds, one CPU thread): a second run rewrites
byte-identical files.  The folders listed in OWNED below are deleted and rebuilt;
anything else under fixtures/ is left alone.

What it writes (all arch llama, SiLU, no biases; random weights, std 0.02..0.1,
norm weights 1 + 0.1*randn):

  hf-gqa-bf16-sharded/      transformers 5.x save_pretrained, bf16, 2 safetensors shards
                            + model.safetensors.index.json; GQA 8 q / 2 kv heads.
  hf-mqa-f16-tied-rope31/   transformers 4.55 save_pretrained, f16, single model.safetensors,
                            tied embeddings (no lm_head.weight), MQA, Llama 3.1 rope scaling;
                            config in the 4.x style (rope_theta + rope_scaling + torch_dtype).
  meta-gqa-mp2/             Meta consolidated.00/01.pth (torch.save zip), bf16, Llama 3 style
                            params.json, tok_embeddings split on dim 0, rope.freqs (f32).
  hf-copy-of-meta-gqa/      the same weights as meta-gqa-mp2 permuted to HF, save_pretrained bf16.
  meta-mha-l2-mp2/          Meta Llama 2 style (vocab_size -1, no n_kv_heads, no rope_theta),
                            f16, tok_embeddings split on dim 1, rope.freqs (bf16).
  meta-copy-of-hf-mqa/      fixture 2's weights un-permuted to Meta layout, one shard, f16,
                            use_scaled_rope true, output.weight = tied embedding.
  configs/                  config.json of fixture 2's model as transformers 5.x writes it
                            (rope_parameters with rope_type llama3, dtype), for config tests.
  bad/                      broken (and a few deliberately unusual but valid) files, each made
                            from a good file by a named mutation; see bad/README.md.
  MANIFEST.json             sha256 + size of every generated file, library versions.

Every model folder has reference.json (token ids, float32 logits from transformers with
eager attention, and a crc32/sum/first-values table of every tensor as stored; for Meta
folders the merged full tensors plus per-shard tables under "shards"; for the two Llama 3.1
fixtures also "gguf_rope_freqs", the rope_freqs.weight divisors llama.cpp would emit) and
reference_logits.npy.  Meta folders also get a checklist.chk (md5sum -c format) like Meta's
downloads.  Meta state dicts: meta-gqa-mp2 is an OrderedDict, the other two plain dicts.  Meta folders' logits come from
an HF copy of the same weights loaded with from_pretrained(dtype=float32), and are
cross-checked against an independent re-implementation of Meta's own forward pass
(interleaved RoPE) written below, which validates the q/k row permutations.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import io
import json
import math
import os
import pickle
import pickletools
import platform
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import safetensors
import safetensors.torch
import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM

try:
    from backports.zstd import zipfile as zstd_zipfile  # Python < 3.14
except ImportError:  # pragma: no cover
    zstd_zipfile = zipfile if hasattr(zipfile, "ZIP_ZSTANDARD") else None

REPO = Path(__file__).resolve().parent.parent
OWNED = [
    "hf-gqa-bf16-sharded",
    "hf-mqa-f16-tied-rope31",
    "meta-gqa-mp2",
    "hf-copy-of-meta-gqa",
    "meta-mha-l2-mp2",
    "meta-copy-of-hf-mqa",
    "configs",
    "bad",
    "MANIFEST.json",
]

# 16 fixed token ids: BOS (1) then 15 ids in [3, 512).
TOKENS = [1, 17, 300, 42, 511, 7, 256, 128, 99, 3, 450, 64, 200, 333, 5, 480]

DT_NAME = {torch.bfloat16: "bf16", torch.float16: "f16", torch.float32: "f32"}

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- helpers

def versions() -> dict:
    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
    }


def tensor_info(t: torch.Tensor) -> dict:
    """dtype, shape, crc32 of the C-contiguous little-endian bytes, exact sum, first 8 values."""
    t = t.detach().contiguous()
    raw = t.reshape(-1).view(torch.uint8).numpy().tobytes()
    assert sys.byteorder == "little"
    vals = t.reshape(-1).double()
    return {
        "dtype": DT_NAME[t.dtype],
        "shape": list(t.shape),
        "crc32": zlib.crc32(raw),
        "sum": math.fsum(vals.tolist()),
        "first": vals[:8].tolist(),
    }


def table(sd: dict) -> dict:
    return {k: tensor_info(v) for k, v in sd.items()}


def dump_json(path: Path, obj, *, compact_keys=("logits",)) -> None:
    """JSON with one line per top-level key entry / tensor / logits row (diff-friendly)."""
    def enc(v):
        return json.dumps(v, separators=(", ", ": "))

    lines = ["{"]
    items = list(obj.items())
    for i, (k, v) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if isinstance(v, dict) and v and all(isinstance(x, dict) for x in v.values()):
            lines.append(f" {enc(k)}: {{")
            sub = list(v.items())
            for j, (k2, v2) in enumerate(sub):
                c2 = "," if j < len(sub) - 1 else ""
                if isinstance(v2, dict) and v2 and all(isinstance(x, dict) for x in v2.values()):
                    lines.append(f"  {enc(k2)}: {{")
                    sub2 = list(v2.items())
                    for m, (k3, v3) in enumerate(sub2):
                        c3 = "," if m < len(sub2) - 1 else ""
                        lines.append(f"   {enc(k3)}: {enc(v3)}{c3}")
                    lines.append(f"  }}{c2}")
                else:
                    lines.append(f"  {enc(k2)}: {enc(v2)}{c2}")
            lines.append(f" }}{comma}")
        elif k in compact_keys and isinstance(v, list):
            lines.append(f" {enc(k)}: [")
            for j, row in enumerate(v):
                c2 = "," if j < len(v) - 1 else ""
                lines.append(f"  {enc(row)}{c2}")
            lines.append(f" ]{comma}")
        else:
            lines.append(f" {enc(k)}: {enc(v)}{comma}")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n")


class Rng:
    """Deterministic float32 normal draws from one torch.Generator."""

    def __init__(self, seed: int):
        self.g = torch.Generator().manual_seed(seed)

    def w(self, *shape, std: float) -> torch.Tensor:
        return torch.randn(shape, generator=self.g, dtype=torch.float32) * std

    def norm(self, n: int) -> torch.Tensor:
        return 1.0 + 0.1 * torch.randn((n,), generator=self.g, dtype=torch.float32)


def ffn_hidden(dim: int, multiple_of: int, mult: float | None) -> int:
    """FFN size exactly as Meta's FeedForward computes it."""
    h = 4 * dim
    h = int(2 * h / 3)
    if mult is not None:
        h = int(mult * h)
    return multiple_of * ((h + multiple_of - 1) // multiple_of)


def permute_meta_to_hf(w: torch.Tensor, n_h: int) -> torch.Tensor:
    """transformers' convert_llama_weights_to_hf.permute."""
    rows, cols = w.shape
    return w.view(n_h, rows // n_h // 2, 2, cols).transpose(1, 2).reshape(rows, cols)


def permute_hf_to_meta(w: torch.Tensor, n_h: int) -> torch.Tensor:
    """llama.cpp's LlamaModel.permute (undo the HF permutation)."""
    rows, cols = w.shape
    return w.view(n_h, 2, rows // n_h // 2, cols).transpose(1, 2).reshape(rows, cols)


META_TO_HF = [
    ("attention.wq.weight", "self_attn.q_proj.weight"),
    ("attention.wk.weight", "self_attn.k_proj.weight"),
    ("attention.wv.weight", "self_attn.v_proj.weight"),
    ("attention.wo.weight", "self_attn.o_proj.weight"),
    ("feed_forward.w1.weight", "mlp.gate_proj.weight"),
    ("feed_forward.w2.weight", "mlp.down_proj.weight"),
    ("feed_forward.w3.weight", "mlp.up_proj.weight"),
    ("attention_norm.weight", "input_layernorm.weight"),
    ("ffn_norm.weight", "post_attention_layernorm.weight"),
]


def meta_to_hf(sd: dict, n_layers: int, n_heads: int, n_kv: int, tied: bool = False) -> dict:
    out = collections.OrderedDict()
    out["model.embed_tokens.weight"] = sd["tok_embeddings.weight"].clone()
    for i in range(n_layers):
        for m, h in META_TO_HF:
            t = sd[f"layers.{i}.{m}"]
            if m == "attention.wq.weight":
                t = permute_meta_to_hf(t, n_heads)
            elif m == "attention.wk.weight":
                t = permute_meta_to_hf(t, n_kv)
            out[f"model.layers.{i}.{h}"] = t.clone()
    out["model.norm.weight"] = sd["norm.weight"].clone()
    if not tied:
        out["lm_head.weight"] = sd["output.weight"].clone()
    return out


def hf_to_meta(sd: dict, n_layers: int, n_heads: int, n_kv: int) -> dict:
    out = collections.OrderedDict()
    out["tok_embeddings.weight"] = sd["model.embed_tokens.weight"].clone()
    for i in range(n_layers):
        for m, h in META_TO_HF:
            t = sd[f"model.layers.{i}.{h}"]
            if m == "attention.wq.weight":
                t = permute_hf_to_meta(t, n_heads)
            elif m == "attention.wk.weight":
                t = permute_hf_to_meta(t, n_kv)
            out[f"layers.{i}.{m}"] = t.clone()
    out["norm.weight"] = sd["model.norm.weight"].clone()
    out["output.weight"] = sd.get("lm_head.weight", sd["model.embed_tokens.weight"]).clone()
    return out


def random_meta(rng: Rng, *, dim, n_layers, n_heads, n_kv, vocab, ffn, dtype) -> dict:
    hd = dim // n_heads
    sd = collections.OrderedDict()
    sd["tok_embeddings.weight"] = rng.w(vocab, dim, std=0.1)
    for i in range(n_layers):
        p = f"layers.{i}."
        sd[p + "attention.wq.weight"] = rng.w(n_heads * hd, dim, std=0.08)
        sd[p + "attention.wk.weight"] = rng.w(n_kv * hd, dim, std=0.08)
        sd[p + "attention.wv.weight"] = rng.w(n_kv * hd, dim, std=0.06)
        sd[p + "attention.wo.weight"] = rng.w(dim, n_heads * hd, std=0.05)
        sd[p + "feed_forward.w1.weight"] = rng.w(ffn, dim, std=0.05)
        sd[p + "feed_forward.w2.weight"] = rng.w(dim, ffn, std=0.03)
        sd[p + "feed_forward.w3.weight"] = rng.w(ffn, dim, std=0.05)
        sd[p + "attention_norm.weight"] = rng.norm(dim)
        sd[p + "ffn_norm.weight"] = rng.norm(dim)
    sd["norm.weight"] = rng.norm(dim)
    sd["output.weight"] = rng.w(vocab, dim, std=0.08)
    return collections.OrderedDict((k, v.to(dtype)) for k, v in sd.items())


def random_hf(rng: Rng, *, dim, n_layers, n_heads, n_kv, hd, vocab, ffn, dtype, tied) -> dict:
    sd = collections.OrderedDict()
    sd["model.embed_tokens.weight"] = rng.w(vocab, dim, std=0.1)
    for i in range(n_layers):
        p = f"model.layers.{i}."
        sd[p + "self_attn.q_proj.weight"] = rng.w(n_heads * hd, dim, std=0.08)
        sd[p + "self_attn.k_proj.weight"] = rng.w(n_kv * hd, dim, std=0.08)
        sd[p + "self_attn.v_proj.weight"] = rng.w(n_kv * hd, dim, std=0.06)
        sd[p + "self_attn.o_proj.weight"] = rng.w(dim, n_heads * hd, std=0.05)
        sd[p + "mlp.gate_proj.weight"] = rng.w(ffn, dim, std=0.05)
        sd[p + "mlp.up_proj.weight"] = rng.w(ffn, dim, std=0.05)
        sd[p + "mlp.down_proj.weight"] = rng.w(dim, ffn, std=0.03)
        sd[p + "input_layernorm.weight"] = rng.norm(dim)
        sd[p + "post_attention_layernorm.weight"] = rng.norm(dim)
    sd["model.norm.weight"] = rng.norm(dim)
    if not tied:
        sd["lm_head.weight"] = rng.w(vocab, dim, std=0.08)
    return collections.OrderedDict((k, v.to(dtype)) for k, v in sd.items())


def load_hf_file_tensors(folder: Path) -> dict:
    """Every tensor of every *.safetensors in folder, as stored."""
    out = {}
    for f in sorted(folder.glob("*.safetensors")):
        for k, v in safetensors.torch.load_file(str(f)).items():
            assert k not in out, k
            out[k] = v
    return dict(sorted(out.items()))


def hf_logits(folder: Path) -> np.ndarray:
    """Reference logits: from_pretrained in float32 (so inv_freq is computed in f32), eager attention."""
    model = LlamaForCausalLM.from_pretrained(str(folder), dtype=torch.float32, attn_implementation="eager")
    model.eval()
    # The loaded float32 weights must be exactly the stored values.
    stored = load_hf_file_tensors(folder)
    msd = model.state_dict()
    for k, v in stored.items():
        assert torch.equal(msd[k], v.float()), k
    with torch.no_grad():
        logits = model(torch.tensor([TOKENS])).logits[0]
    return logits.to(torch.float32).numpy()


def write_reference(folder: Path, logits: np.ndarray, tensors: dict, shards: dict | None = None,
                    extra_versions: dict | None = None, extra: dict | None = None) -> None:
    assert logits.shape == (len(TOKENS), logits.shape[1]) and logits.dtype == np.float32
    ref = collections.OrderedDict()
    ref["tokens"] = TOKENS
    ref["logits"] = [[float(x) for x in row] for row in logits]
    ref["tensors"] = tensors
    if shards is not None:
        ref["shards"] = shards
    ref.update(extra or {})
    v = versions()
    if extra_versions:
        v.update(extra_versions)
    ref["versions"] = v
    dump_json(folder / "reference.json", ref)
    np.save(folder / "reference_logits.npy", np.ascontiguousarray(logits, dtype=np.float32))


def hf_config(**kw) -> LlamaConfig:
    return LlamaConfig(hidden_act="silu", attention_bias=False, mlp_bias=False, **kw)


def save_hf(sd: dict, config: LlamaConfig, dtype, folder: Path, **save_kw) -> None:
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).to(dtype)
    full = dict(sd)
    if config.tie_word_embeddings:
        full["lm_head.weight"] = sd["model.embed_tokens.weight"]
    model.load_state_dict(full, strict=True)
    model.save_pretrained(str(folder), **save_kw)
    got = load_hf_file_tensors(folder)
    assert set(got) == set(sd), (set(got) ^ set(sd))
    for k in sd:
        assert got[k].dtype == dtype and torch.equal(got[k], sd[k]), k


# --------------------------------------------------- independent Meta-style forward pass

def meta_apply_scaling(freqs: torch.Tensor) -> torch.Tensor:
    """meta-llama/llama-models models/llama3/model.py apply_scaling (hard-coded 8/1/4/8192)."""
    scale_factor, low_freq_factor, high_freq_factor, old_context_len = 8, 1, 4, 8192
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    new = []
    for freq in freqs.tolist():
        wavelen = 2 * math.pi / freq
        if wavelen < high_freq_wavelen:
            new.append(freq)
        elif wavelen > low_freq_wavelen:
            new.append(freq / scale_factor)
        else:
            smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
            new.append((1 - smooth) * freq / scale_factor + smooth * freq)
    return torch.tensor(new, dtype=freqs.dtype)


def meta_forward(sd: dict, params: dict, tokens: list) -> np.ndarray:
    """Meta's Transformer.forward (llama/model.py), float32, interleaved-pair RoPE."""
    sd = {k: v.float() for k, v in sd.items()}
    dim, n_heads = params["dim"], params["n_heads"]
    n_kv = params.get("n_kv_heads") or n_heads
    hd = dim // n_heads
    eps = params["norm_eps"]
    theta = params.get("rope_theta", 10000.0)
    seqlen = len(tokens)
    freqs = 1.0 / (theta ** (torch.arange(0, hd, 2)[: hd // 2].float() / hd))
    if params.get("use_scaled_rope"):
        freqs = meta_apply_scaling(freqs)
    ang = torch.outer(torch.arange(seqlen, dtype=torch.float32), freqs).float()
    cis = torch.polar(torch.ones_like(ang), ang)  # [L, hd/2]

    def rms(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

    def rope(x):  # x [L, H, hd]
        xc = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
        return torch.view_as_real(xc * cis[:, None, :]).flatten(2)

    h = sd["tok_embeddings.weight"][torch.tensor(tokens)]
    mask = torch.full((seqlen, seqlen), float("-inf")).triu(1)
    for i in range(params["n_layers"]):
        p = f"layers.{i}."
        x = rms(h, sd[p + "attention_norm.weight"])
        q = (x @ sd[p + "attention.wq.weight"].T).view(seqlen, n_heads, hd)
        k = (x @ sd[p + "attention.wk.weight"].T).view(seqlen, n_kv, hd)
        v = (x @ sd[p + "attention.wv.weight"].T).view(seqlen, n_kv, hd)
        q, k = rope(q), rope(k)
        rep = n_heads // n_kv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)
        s = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd) + mask, dim=-1)
        o = (s @ v).transpose(0, 1).reshape(seqlen, -1)
        h = h + o @ sd[p + "attention.wo.weight"].T
        x = rms(h, sd[p + "ffn_norm.weight"])
        f = torch.nn.functional.silu(x @ sd[p + "feed_forward.w1.weight"].T) * (x @ sd[p + "feed_forward.w3.weight"].T)
        h = h + f @ sd[p + "feed_forward.w2.weight"].T
    h = rms(h, sd["norm.weight"])
    return (h @ sd["output.weight"].T).numpy()


def llamacpp_rope_freqs(head_dim: int, theta: float, factor: float, low: float, high: float, old_len: int) -> list:
    """The divisors llama.cpp's LlamaModel.generate_extra_tensors stores as rope_freqs.weight (F32) for
    rope_type llama3, computed with the same torch float32 scalar arithmetic it uses."""
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    low_wl, high_wl = old_len / low, old_len / high
    out = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_wl:
            out.append(1)
        elif wavelen > low_wl:
            out.append(factor)
        else:
            smooth = (old_len / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return torch.tensor(out, dtype=torch.float32).double().tolist()


def rope31_extra() -> dict:
    """Extra reference fields for the two Llama 3.1-scaled fixtures (same weights)."""
    meta = hf_to_meta(mqa_weights(), 2, 4, 1)
    params = {"dim": 128, "n_layers": 2, "n_heads": 4, "n_kv_heads": 1, "norm_eps": 1e-05,
              "rope_theta": 500000.0}
    scaled = meta_forward(meta, {**params, "use_scaled_rope": True}, TOKENS)
    plain = meta_forward(meta, {**params, "use_scaled_rope": False}, TOKENS)
    d = float(np.abs(scaled - plain).max())
    return {
        "gguf_rope_freqs": llamacpp_rope_freqs(32, 500000.0, 8.0, 1.0, 4.0, 8192),
        "note_rope_sensitivity": f"with only 16 positions, dropping the llama3 frequency scaling changes "
                                 f"these logits by only {d:.2g} (max abs): compare logits with a tolerance "
                                 "well below that, and check gguf_rope_freqs (the divisors llama.cpp stores "
                                 "as rope_freqs.weight) exactly",
    }


def check_close(a: np.ndarray, b: np.ndarray, what: str, tol: float = 1e-4) -> None:
    d = float(np.abs(a - b).max())
    assert d < tol, f"{what}: max |diff| {d}"


# -------------------------------------------------------------------- Meta shards

def split_axis(name: str, embed_axis: int) -> int | None:
    if name == "tok_embeddings.weight":
        return embed_axis
    if name == "output.weight" or name.endswith(("wq.weight", "wk.weight", "wv.weight", "w1.weight", "w3.weight")):
        return 0  # ColumnParallelLinear
    if name.endswith(("wo.weight", "w2.weight")):
        return 1  # RowParallelLinear
    return None  # norms, rope.freqs: replicated


def split_meta(full: dict, mp: int, embed_axis: int, container=collections.OrderedDict) -> list:
    shards = [container() for _ in range(mp)]
    for name, t in full.items():
        ax = split_axis(name, embed_axis)
        if ax is None:
            for s in shards:
                s[name] = t.clone()
        else:
            assert t.shape[ax] % mp == 0, name
            for s, piece in zip(shards, t.chunk(mp, dim=ax)):
                s[name] = piece.clone()  # own contiguous storage
    for name, t in full.items():  # a model-parallel merge must give back the full tensors
        ax = split_axis(name, embed_axis)
        merged = shards[0][name] if ax is None else torch.cat([s[name] for s in shards], dim=ax)
        assert torch.equal(merged, t), name
    return shards


def write_meta_folder(folder: Path, params: dict, shards: list) -> dict:
    folder.mkdir(parents=True)
    (folder / "params.json").write_text(json.dumps(params))
    tables = {}
    for i, sd in enumerate(shards):
        fn = f"consolidated.{i:02d}.pth"
        torch.save(sd, folder / fn)
        back = torch.load(folder / fn, weights_only=True)
        assert list(back) == list(sd) and all(torch.equal(back[k], sd[k]) for k in sd)
        tables[fn] = table(sd)
    names = ["params.json"] + [f"consolidated.{i:02d}.pth" for i in range(len(shards))]
    (folder / "checklist.chk").write_text(
        "".join(f"{hashlib.md5((folder / n).read_bytes()).hexdigest()}  {n}\n" for n in names))
    return tables


# ------------------------------------------------------------------ the models

def make_hf_gqa_bf16_sharded(out: Path) -> None:
    folder = out / "hf-gqa-bf16-sharded"
    dim, n_layers, n_heads, n_kv, hd, vocab, ffn = 256, 4, 8, 2, 32, 512, 512
    sd = random_hf(Rng(1001), dim=dim, n_layers=n_layers, n_heads=n_heads, n_kv=n_kv, hd=hd,
                   vocab=vocab, ffn=ffn, dtype=torch.bfloat16, tied=False)
    cfg = hf_config(vocab_size=vocab, hidden_size=dim, intermediate_size=ffn, num_hidden_layers=n_layers,
                    num_attention_heads=n_heads, num_key_value_heads=n_kv, head_dim=hd, rms_norm_eps=1e-5,
                    max_position_embeddings=256, tie_word_embeddings=False,
                    rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    total = sum(t.numel() * t.element_size() for t in sd.values())
    save_hf(sd, cfg, torch.bfloat16, folder, max_shard_size=int(total * 0.6))
    shards = sorted(folder.glob("*.safetensors"))
    assert [p.name for p in shards] == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"], shards
    assert (folder / "model.safetensors.index.json").exists()
    write_reference(folder, hf_logits(folder), table(load_hf_file_tensors(folder)))


MQA_RNG_SEED = 2002
MQA = dict(dim=128, n_layers=2, n_heads=4, n_kv=1, hd=32, vocab=512, ffn=320)


def mqa_weights() -> dict:
    return random_hf(Rng(MQA_RNG_SEED), **MQA, dtype=torch.float16, tied=True)


def mqa_config_kwargs(v5: bool) -> dict:
    kw = dict(vocab_size=512, hidden_size=128, intermediate_size=320, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=1, head_dim=32, rms_norm_eps=1e-5,
              max_position_embeddings=512, tie_word_embeddings=True, hidden_act="silu",
              attention_bias=False, mlp_bias=False)
    scaling = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 8192}
    if v5:
        kw["rope_parameters"] = {"rope_theta": 500000.0, **scaling}
    else:
        kw["rope_theta"] = 500000.0
        kw["rope_scaling"] = scaling
    return kw


def make_hf_mqa_f16_tied_rope31(out: Path, py4: str) -> dict:
    folder = out / "hf-mqa-f16-tied-rope31"
    sd = mqa_weights()
    with tempfile.TemporaryDirectory() as td:
        job = Path(td) / "job.pt"
        torch.save({"config": mqa_config_kwargs(v5=False), "state_dict": dict(sd),
                    "dtype": "float16", "out": str(folder)}, job)
        res = subprocess.run([py4, str(Path(__file__).with_name("_hf4_save.py")), str(job)],
                             capture_output=True, text=True)
        if res.returncode != 0:
            sys.exit(f"_hf4_save.py failed:\n{res.stderr}")
    v4 = json.loads(res.stdout.strip().splitlines()[-1])
    cfg = json.loads((folder / "config.json").read_text())
    assert "torch_dtype" in cfg and "rope_scaling" in cfg and "rope_theta" in cfg, cfg
    got = load_hf_file_tensors(folder)
    assert set(got) == set(sd) and "lm_head.weight" not in got
    for k in sd:
        assert got[k].dtype == torch.float16 and torch.equal(got[k], sd[k]), k
    logits = hf_logits(folder)
    write_reference(folder, logits, table(got), extra=rope31_extra(),
                    extra_versions={"saved_with_transformers": v4["transformers"], "saved_with_torch": v4["torch"],
                                    "saved_with_safetensors": v4["safetensors"]})
    # The same model's config.json as transformers 5.x writes it.
    cdir = out / "configs"
    cdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as td:
        c5 = LlamaConfig(**mqa_config_kwargs(v5=True))
        c5.dtype = torch.float16
        c5.architectures = ["LlamaForCausalLM"]
        c5.save_pretrained(td)
        shutil.copy(Path(td) / "config.json", cdir / "hf-mqa-f16-tied-rope31.transformers5.config.json")
    shutil.copy(folder / "config.json", cdir / "hf-mqa-f16-tied-rope31.transformers4.config.json")
    return {"logits": logits, "v4": v4}


def make_meta_gqa_mp2(out: Path) -> None:
    folder = out / "meta-gqa-mp2"
    params = {"dim": 128, "n_layers": 2, "n_heads": 8, "n_kv_heads": 4, "vocab_size": 512, "multiple_of": 32,
              "ffn_dim_multiplier": 1.3, "norm_eps": 1e-05, "rope_theta": 500000.0, "use_scaled_rope": False}
    ffn = ffn_hidden(128, 32, 1.3)
    assert ffn == 448, ffn
    full = random_meta(Rng(3003), dim=128, n_layers=2, n_heads=8, n_kv=4, vocab=512, ffn=ffn, dtype=torch.bfloat16)
    hd = 128 // 8
    full["rope.freqs"] = (1.0 / (500000.0 ** (torch.arange(0, hd, 2).float() / hd))).to(torch.float32)
    shards = split_meta(full, 2, embed_axis=0)
    assert shards[0]["tok_embeddings.weight"].shape == (256, 128)
    shard_tables = write_meta_folder(folder, params, shards)

    hf = meta_to_hf(full, 2, 8, 4)
    copy = out / "hf-copy-of-meta-gqa"
    cfg = hf_config(vocab_size=512, hidden_size=128, intermediate_size=ffn, num_hidden_layers=2,
                    num_attention_heads=8, num_key_value_heads=4, head_dim=hd, rms_norm_eps=1e-5,
                    max_position_embeddings=256, tie_word_embeddings=False,
                    rope_parameters={"rope_type": "default", "rope_theta": 500000.0})
    save_hf(hf, cfg, torch.bfloat16, copy)
    assert [p.name for p in copy.glob("*.safetensors")] == ["model.safetensors"]
    logits = hf_logits(copy)
    check_close(logits, meta_forward(full, params, TOKENS), "meta-gqa-mp2 vs Meta forward")
    write_reference(copy, logits, table(load_hf_file_tensors(copy)))
    write_reference(folder, logits, table(full), shards=shard_tables)


def make_meta_mha_l2_mp2(out: Path) -> None:
    folder = out / "meta-mha-l2-mp2"
    params = {"dim": 128, "multiple_of": 64, "n_heads": 4, "n_layers": 2, "norm_eps": 1e-06, "vocab_size": -1}
    ffn = ffn_hidden(128, 64, None)
    assert ffn == 384, ffn
    full = random_meta(Rng(4004), dim=128, n_layers=2, n_heads=4, n_kv=4, vocab=512, ffn=ffn, dtype=torch.float16)
    hd = 128 // 4
    full["rope.freqs"] = (1.0 / (10000.0 ** (torch.arange(0, hd, 2).float() / hd))).to(torch.bfloat16)
    shards = split_meta(full, 2, embed_axis=1, container=dict)
    assert shards[1]["tok_embeddings.weight"].shape == (512, 64)
    shard_tables = write_meta_folder(folder, params, shards)

    hf = meta_to_hf(full, 2, 4, 4)
    cfg = hf_config(vocab_size=512, hidden_size=128, intermediate_size=ffn, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=4, head_dim=hd, rms_norm_eps=1e-6,
                    max_position_embeddings=256, tie_word_embeddings=False,
                    rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    with tempfile.TemporaryDirectory() as td:
        copy = Path(td) / "hf"
        save_hf(hf, cfg, torch.float16, copy)
        logits = hf_logits(copy)
    check_close(logits, meta_forward(full, {**params, "vocab_size": 512}, TOKENS), "meta-mha-l2-mp2 vs Meta forward")
    write_reference(folder, logits, table(full), shards=shard_tables)


def make_meta_copy_of_hf_mqa(out: Path, mqa_logits: np.ndarray) -> None:
    folder = out / "meta-copy-of-hf-mqa"
    params = {"dim": 128, "n_layers": 2, "n_heads": 4, "n_kv_heads": 1, "vocab_size": 512, "multiple_of": 64,
              "ffn_dim_multiplier": 0.94, "norm_eps": 1e-05, "rope_theta": 500000.0, "use_scaled_rope": True}
    assert ffn_hidden(128, 64, 0.94) == 320
    hf = mqa_weights()
    full = hf_to_meta(hf, 2, 4, 1)
    assert torch.equal(full["output.weight"], full["tok_embeddings.weight"])
    back = meta_to_hf(full, 2, 4, 1, tied=True)
    assert set(back) == set(hf) and all(torch.equal(back[k], hf[k]) for k in hf)
    shard_tables = write_meta_folder(folder, params, [dict(full)])
    check_close(mqa_logits, meta_forward(full, params, TOKENS), "meta-copy-of-hf-mqa vs Meta forward")
    write_reference(folder, mqa_logits, table(full), shards=shard_tables, extra=rope31_extra())


# ------------------------------------------------------------------ broken files

BAD_NOTES: list[tuple[str, str]] = []


def note(name: str, text: str) -> None:
    BAD_NOTES.append((name, text))


def st_split(b: bytes):
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n], object_pairs_hook=collections.OrderedDict)
    return n, header, b[8 + n:]


def st_join(header_text: str, data: bytes) -> bytes:
    """Serialize like the Rust writer: compact JSON padded with spaces to a multiple of 8."""
    h = header_text.encode()
    h += b" " * ((-len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + data


def st_text(items) -> str:
    return "{" + ",".join(json.dumps(k) + ":" + json.dumps(v, separators=(",", ":")) for k, v in items) + "}"


def tensors_by_offset(header) -> list:
    return sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"])


def zip_rewrite(src: bytes, dst: Path, replace: dict | None = None, compress=zipfile.ZIP_STORED,
                zmod=zipfile, level=None) -> None:
    """Rewrite a torch zip entry by entry (same names/order, fixed timestamps)."""
    replace = replace or {}
    with zipfile.ZipFile(io.BytesIO(src)) as zin, zmod.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = replace.get(info.filename, None)
            if data is None:
                data = zin.read(info.filename)
            zi = zmod.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = compress
            zi.external_attr = 0o644 << 16
            zi.create_system = 3
            zout.writestr(zi, data, compress_type=compress, compresslevel=level)


def archive_prefix(b: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(b)) as z:
        return z.infolist()[0].filename.split("/")[0]


def small_state_dict() -> dict:
    rng = Rng(5005)
    return collections.OrderedDict([
        ("tok_embeddings.weight", rng.w(16, 8, std=0.1).to(torch.bfloat16)),
        ("layers.0.attention.wq.weight", rng.w(8, 8, std=0.1).to(torch.bfloat16)),
        ("norm.weight", rng.norm(8)),
    ])


def torch_save_bytes(obj, path: Path, **kw) -> bytes:
    torch.save(obj, path, **kw)
    return path.read_bytes()


def legacy_save(obj, path: Path) -> None:
    """torch.save(..., _use_new_zipfile_serialization=False), made deterministic.

    The legacy writer names each storage by its memory address (str(storage._cdata)) and writes
    the raw storages in sorted-key order, so both vary from run to run.  The keys are renamed to
    zero-padded indexes (same length) in order of first use in the object pickle, and the key list
    and the raw storages are rewritten in that order.
    """
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=False)
    b = buf.getvalue()

    def pickle_end(at: int) -> int:
        for _op, _arg, p in pickletools.genops(io.BytesIO(b[at:])):
            last = p
        return at + last + 1

    pos = 0
    for _ in range(3):  # magic number, protocol version, sys info
        pos = pickle_end(pos)
    obj_start, obj_end = pos, pickle_end(pos)
    keys = pickle.loads(b[obj_end:])  # a list of str: safe to unpickle
    keys_end = pickle_end(obj_end)
    assert isinstance(keys, list) and all(isinstance(k, str) and k.isdigit() for k in keys), keys
    esize = {"FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "DoubleStorage": 8}
    first_use, elsize, last_global = [], {}, None
    for op, arg, _p in pickletools.genops(io.BytesIO(b[obj_start:obj_end])):
        if op.name == "GLOBAL":
            last_global = arg.split()[-1]
        elif op.name == "BINUNICODE" and arg in keys and arg not in first_use:
            first_use.append(arg)
            elsize[arg] = esize[last_global]
    assert sorted(first_use) == sorted(keys)
    raw, at = {}, keys_end
    for k in keys:  # data section: per storage, u64 element count then the bytes
        n = struct.unpack("<Q", b[at:at + 8])[0]
        raw[k] = b[at:at + 8 + n * elsize[k]]
        at += 8 + n * elsize[k]
    assert at == len(b)
    width = {len(k) for k in keys}
    assert len(width) == 1, keys
    width = width.pop()
    rename = {k: str(i).zfill(width) for i, k in enumerate(first_use)}
    objp = b[obj_start:obj_end]
    for k, new in rename.items():
        old = b"X" + struct.pack("<I", width) + k.encode()
        assert objp.count(old) >= 1
        objp = objp.replace(old, b"X" + struct.pack("<I", width) + new.encode())
    new_keys = [rename[k] for k in first_use]  # torch writes them sorted; these are sorted too
    assert new_keys == sorted(new_keys)
    out = b[:obj_start] + objp + pickle.dumps(new_keys, protocol=2) + b"".join(raw[k] for k in first_use)
    path.write_bytes(out)
    back = torch.load(path, weights_only=True)
    assert list(back) == list(obj) and all(torch.equal(back[k], obj[k]) for k in obj)


PWNED_BEFORE = os.path.exists("/tmp/llama-convert-pwned")


def observe(path: Path) -> str:
    """What the reference reader says about a file: the key line of its error, or 'loads (N tensors)'."""
    b = path.read_bytes()
    try:
        if path.suffix == ".safetensors":
            n = len(safetensors.torch.load(b))
        else:
            n = len(torch.load(io.BytesIO(b), weights_only=True))
        return f"loads ({n} tensors)"
    except Exception as e:  # noqa: BLE001 - we record whatever it says
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
        lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()] or [""]
        key = [ln for ln in lines if "Unsupported" in ln or "GLOBAL" in ln]
        msg = (key or lines)[0]
        if len(msg) > 160:
            msg = msg[:157] + "..."
        return f"{type(e).__name__}: {msg}"


class _OsSystem:
    def __reduce__(self):
        return (os.system, ("touch /tmp/llama-convert-pwned",))


class _Eval:
    def __reduce__(self):
        return (eval, ("__import__('os').system('touch /tmp/llama-convert-pwned')",))


def make_bad(out: Path) -> None:
    bad = out / "bad"
    bad.mkdir(parents=True)

    # --- a small good safetensors file, written by transformers
    rng = Rng(6006)
    tiny = random_hf(rng, dim=32, n_layers=1, n_heads=2, n_kv=1, hd=16, vocab=64, ffn=64,
                     dtype=torch.float16, tied=False)
    cfg = hf_config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                    num_attention_heads=2, num_key_value_heads=1, head_dim=16, rms_norm_eps=1e-5,
                    max_position_embeddings=64, tie_word_embeddings=False,
                    rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    with tempfile.TemporaryDirectory() as td:
        save_hf(tiny, cfg, torch.float16, Path(td) / "m")
        good = (Path(td) / "m" / "model.safetensors").read_bytes()
    (bad / "safetensors-good-base.safetensors").write_bytes(good)
    dump_json(bad / "safetensors-good-base.json", {"tensors": table(tiny), "versions": versions()})
    note("safetensors-good-base.safetensors",
         "VALID. A tiny f16 LlamaForCausalLM (1 layer, hidden 32, vocab 64) written by transformers "
         "save_pretrained; the base of every safetensors-* mutation below. Table in safetensors-good-base.json.")

    n, header, data = st_split(good)
    order = tensors_by_offset(header)

    def items_of(h):
        return [("__metadata__", h["__metadata__"])] + [(k, h[k]) for k in tensors_by_offset(h)]

    cut = 8 + n + len(data) // 2
    (bad / "safetensors-truncated.safetensors").write_bytes(good[:cut])
    note("safetensors-truncated.safetensors",
         f"good base cut to {cut} of {len(good)} bytes, in the middle of the data section "
         "(reference library: MetadataIncompleteBuffer).")

    fake_n = len(good) + 16
    (bad / "safetensors-header-past-eof.safetensors").write_bytes(struct.pack("<Q", fake_n) + good[8:])
    note("safetensors-header-past-eof.safetensors",
         f"good base with the u64 header length set to {fake_n}, beyond the end of the file "
         "(< 100,000,000, so InvalidHeaderLength, not HeaderTooLarge).")

    huge = 2 ** 63 + 8
    (bad / "safetensors-huge-header-len.safetensors").write_bytes(struct.pack("<Q", huge) + good[8:])
    note("safetensors-huge-header-len.safetensors",
         f"good base with the header length set to 2^63+8 = {huge} (0x{huge:016x}): top bit set, so it does "
         "not fit a signed 64-bit Int, and 8+N overflows Int64 (HeaderTooLarge).")

    # overlap: move the last tensor back by k bytes into its predecessor; shorten the file by k
    h = json.loads(json.dumps(header), object_pairs_hook=collections.OrderedDict)
    last, prev = order[-1], order[-2]
    k = 16
    b0, e0 = h[last]["data_offsets"]
    h[last]["data_offsets"] = [b0 - k, e0 - k]
    new_data = data[:b0 - k] + data[b0:]
    (bad / "safetensors-overlap.safetensors").write_bytes(st_join(st_text(items_of(h)), new_data))
    note("safetensors-overlap.safetensors",
         f"header rewritten: the last tensor '{last}' starts {k} bytes before the end of '{prev}' "
         "(each byte length still equals shape x dtype size, file length = last end; only the overlap is wrong: InvalidOffset).")

    # gap: move the last tensor forward by 8 bytes, 8 zero bytes inserted before it
    h = json.loads(json.dumps(header), object_pairs_hook=collections.OrderedDict)
    b0, e0 = h[last]["data_offsets"]
    h[last]["data_offsets"] = [b0 + 8, e0 + 8]
    new_data = data[:b0] + b"\0" * 8 + data[b0:]
    (bad / "safetensors-gap.safetensors").write_bytes(st_join(st_text(items_of(h)), new_data))
    note("safetensors-gap.safetensors",
         f"header rewritten: 8 unused zero bytes inserted before the last tensor '{last}', whose offsets moved "
         "by 8 (lengths and file length consistent; only the hole is wrong: InvalidOffset).")

    # unknown dtype, written by the safetensors library itself: one tensor as float8_e4m3fn
    f8name = "model.layers.0.mlp.up_proj.weight"
    t = safetensors.torch.load(good)
    t[f8name] = t[f8name].float().to(torch.float8_e4m3fn)
    f8 = safetensors.torch.save(t, metadata={"format": "pt"})
    assert b'"F8_E4M3"' in f8
    (bad / "safetensors-unknown-dtype.safetensors").write_bytes(f8)
    note("safetensors-unknown-dtype.safetensors",
         f"VALID safetensors written by safetensors.torch.save (the library itself): '{f8name}' converted to "
         "torch.float8_e4m3fn, dtype \"F8_E4M3\"; a dtype llama-convert does not take (expect a clear "
         "'unsupported dtype F8_E4M3' error naming the tensor).")

    h = json.loads(json.dumps(header), object_pairs_hook=collections.OrderedDict)
    h[f8name]["dtype"] = "I4"
    (bad / "safetensors-bogus-dtype-name.safetensors").write_bytes(st_join(st_text(items_of(h)), data))
    note("safetensors-bogus-dtype-name.safetensors",
         f"header edited: '{f8name}' dtype set to \"I4\", a name that is no safetensors dtype at all "
         "(reference library: InvalidHeaderDeserialization, unknown variant).")

    text = st_text(items_of(header))
    assert text.endswith("}}")
    broken = text[:-1]  # drop the closing brace of the top-level object
    (bad / "safetensors-bad-json.safetensors").write_bytes(st_join(broken, data))
    note("safetensors-bad-json.safetensors",
         "header rewritten with the final '}' of the JSON object removed (space padding follows): not JSON.")

    first = order[0]
    dup_items = items_of(header)
    idx = [k for k, _ in dup_items].index(first)
    dup_items.insert(idx + 1, (first, header[first]))
    (bad / "safetensors-duplicate-name.safetensors").write_bytes(st_join(st_text(dup_items), data))
    note("safetensors-duplicate-name.safetensors",
         f"header rewritten with the entry for '{first}' written twice, identically (the reference library "
         "keeps the last and ACCEPTS this; llama-convert must reject every duplicate key).")

    h = json.loads(json.dumps(header), object_pairs_hook=collections.OrderedDict)
    h["model.norm.weight"]["shape"] = [33]
    (bad / "safetensors-shape-mismatch.safetensors").write_bytes(st_join(st_text(items_of(h)), data))
    note("safetensors-shape-mismatch.safetensors",
         "header edited: 'model.norm.weight' shape [32] -> [33] (F16: 66 bytes) while its data_offsets "
         "still span 64 bytes (TensorInvalidInfo).")

    # --- torch zip checkpoints
    sd = small_state_dict()
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)

        def base(name: str) -> bytes:  # a good torch.save with the archive prefix of the final name
            return torch_save_bytes(sd, td / name)

        for fname, obj, fix, desc in [
            ("pickle-os-system.pth", {"tok_embeddings.weight": _OsSystem()}, True,
             "GLOBAL 'posix system' (os.system's real module on Linux; pickle writes __module__) called by REDUCE "
             "with 'touch /tmp/llama-convert-pwned'"),
            ("pickle-eval.pth", {"tok_embeddings.weight": _Eval()}, False,
             "GLOBAL 'builtins eval' (pickled with fix_imports=False; with the default it would read "
             "'__builtin__ eval') called by REDUCE on code that runs os.system"),
        ]:
            src = base(fname)
            pre = archive_prefix(src)
            evil = pickle.dumps(obj, protocol=2, fix_imports=fix)
            zip_rewrite(src, bad / fname, replace={f"{pre}/data.pkl": evil})
            note(fname, f"torch.save zip of a small dict; '{pre}/data.pkl' replaced by pickle.dumps(protocol 2) of "
                        f"a dict whose value is a __reduce__ object: {desc}. Other entries kept (rewritten with "
                        "zipfile, STORED). Must be refused without executing anything; "
                        "/tmp/llama-convert-pwned must not appear.")

        # the same attack with the literal 'os system' global
        src = base("pickle-os-system-literal.pth")
        pre = archive_prefix(src)
        evil = pickle.dumps({"tok_embeddings.weight": _OsSystem()}, protocol=2).replace(b"cposix\nsystem\n", b"cos\nsystem\n")
        assert b"cos\nsystem\n" in evil
        zip_rewrite(src, bad / "pickle-os-system-literal.pth", replace={f"{pre}/data.pkl": evil})
        note("pickle-os-system-literal.pth",
             "as pickle-os-system.pth, but the GLOBAL bytes 'posix\\nsystem' replaced by 'os\\nsystem' "
             "(what os.system pickles to on Windows is 'nt system'; a deny-list must cover os, posix and nt).")

        src = base("pickle-unknown-global.pth")
        pre = archive_prefix(src)
        npk = pickle.dumps({"tok_embeddings.weight": np.arange(8, dtype=np.float32)}, protocol=2)
        glob = npk.split(b"c", 1)[1].split(b"\n")[:2]
        zip_rewrite(src, bad / "pickle-unknown-global.pth", replace={f"{pre}/data.pkl": npk})
        note("pickle-unknown-global.pth",
             f"'{pre}/data.pkl' replaced by pickle.dumps(protocol 2) of {{'tok_embeddings.weight': numpy array}}: "
             f"first GLOBAL '{glob[0].decode()} {glob[1].decode()}' (numpy 2 writes numpy._core, "
             "numpy 1 wrote numpy.core). Not on the allow-list: refuse with an error naming the global.")

        src = bytearray(base("zip-bad-crc.pth"))
        with zipfile.ZipFile(io.BytesIO(bytes(src))) as z:
            info = [i for i in z.infolist() if "/data/" in i.filename][0]
        lh = info.header_offset
        nlen, xlen = struct.unpack("<HH", src[lh + 26:lh + 30])
        pos = lh + 30 + nlen + xlen + info.file_size // 2
        src[pos] ^= 0xFF
        (bad / "zip-bad-crc.pth").write_bytes(bytes(src))
        note("zip-bad-crc.pth",
             f"good torch.save; one byte of the stored record '{info.filename}' (file offset {pos}) inverted, "
             "CRC fields (central directory and data descriptor) left as they were.")

        src = base("zip-truncated.pth")
        with zipfile.ZipFile(io.BytesIO(src)) as z:
            cd = z.start_dir
        (bad / "zip-truncated.pth").write_bytes(src[:cd])
        note("zip-truncated.pth",
             f"good torch.save ({len(src)} bytes) cut at offset {cd}, where its central directory started: "
             "all local records present, no central directory, no end records.")

        legacy_save(sd, bad / "legacy-nonzip.pth")
        note("legacy-nonzip.pth",
             "torch.save(small dict, _use_new_zipfile_serialization=False): the pre-1.6 pickle stream "
             "(storage keys, memory addresses in the original, renamed to 0-padded indexes for determinism) "
             "(magic 80 02 8A 0A 6C FC 9C 46 F9 20 6A A8 50 19 2E). Refuse: legacy format.")

        # compressed but otherwise valid archives
        src = base("torch-compressed.pth")
        zip_rewrite(src, bad / "torch-compressed.pth", compress=zipfile.ZIP_DEFLATED, level=9)
        back = torch.load(bad / "torch-compressed.pth", weights_only=True)
        assert all(torch.equal(back[k], sd[k]) for k in sd)
        dump_json(bad / "torch-compressed.json",
                  {"tensors": table(sd), "compression": "deflate (method 8), level 9",
                   "torch_load_accepts": True, "versions": {**versions(), "zlib": zlib.ZLIB_RUNTIME_VERSION}})
        note("torch-compressed.pth",
             "VALID checkpoint: a good torch.save rewritten entry by entry with zipfile.ZIP_DEFLATED (method 8, "
             "level 9), no data descriptors, no 64-byte alignment padding. torch.load reads it. "
             "Expected tensors in torch-compressed.json.")

        if zstd_zipfile is not None:
            src = base("torch-zstd.pth")
            zip_rewrite(src, bad / "torch-zstd.pth", compress=zstd_zipfile.ZIP_ZSTANDARD, zmod=zstd_zipfile, level=3)
            with zipfile.ZipFile(bad / "torch-zstd.pth") as z:
                assert all(i.compress_type == 93 for i in z.infolist())
            try:
                torch.load(bad / "torch-zstd.pth", weights_only=True)
                zstd_torch = True
            except Exception:
                zstd_torch = False
            import backports.zstd as bz
            from importlib.metadata import version as _pkg_version
            dump_json(bad / "torch-zstd.json",
                      {"tensors": table(sd), "compression": "zstd (method 93), level 3",
                       "torch_load_accepts": zstd_torch,
                       "versions": {**versions(), "backports.zstd": _pkg_version("backports-zstd"),
                                    "zstd": ".".join(map(str, bz.zstd_version_info))}})
            note("torch-zstd.pth",
                 "VALID zip (APPNOTE method 93, Zstandard, level 3) rewritten from a good torch.save with "
                 "backports.zstd's zipfile (Python 3.14 zipfile.ZIP_ZSTANDARD backport). "
                 f"torch.load {'reads' if zstd_torch else 'does NOT read'} it. Expected tensors in torch-zstd.json.")

    # non-contiguous views sharing one storage
    x = Rng(7007).w(4, 6, std=1.0)
    nc = {"t": x.t(), "s": x[1:3], "c": x[:, 2:5]}
    torch.save(nc, bad / "torch-noncontiguous.pth")
    back = torch.load(bad / "torch-noncontiguous.pth", weights_only=True)
    info = {}
    for k, v in nc.items():
        assert torch.equal(back[k], v)
        info[k] = {**tensor_info(v), "stride": list(v.stride()), "storage_offset": v.storage_offset(),
                   "storage_numel": v.untyped_storage().nbytes() // v.element_size()}
    assert info["t"]["stride"] == [1, 6] and info["s"]["storage_offset"] == 6
    dump_json(bad / "torch-noncontiguous.json",
              {"tensors": info, "note": "crc32/sum/first are of .contiguous() values; all three share one "
                                        "24-element f32 storage (one data/ record)", "versions": versions()})
    note("torch-noncontiguous.pth",
         "VALID: torch.save({'t': x.t(), 's': x[1:3], 'c': x[:, 2:5]}) with x a 4x6 f32 tensor: 't' has stride (1, 6), "
         "'s' storage offset 6, 'c' offset 2 with stride (6, 1); one shared storage record. "
         "torch-noncontiguous.json gives shape, stride, offset and the crc32 of the .contiguous() values.")

    lines = ["# fixtures/bad", "",
             "Generated by `Scripts/make_fixtures.py` (never edited by hand). Each file is derived from a good",
             "file by the named mutation. Files marked VALID are unusual but correct inputs. The last column is",
             f"what the reference libraries do with the file (safetensors {safetensors.__version__} "
             f"`safetensors.torch.load`, torch {torch.__version__} `torch.load(weights_only=True)`), observed when",
             "the script ran (the key line of the error only).", "",
             "| file | mutation / expectation | reference library |", "|---|---|---|"]
    for name, text in sorted(BAD_NOTES):
        obs = observe(bad / name)
        lines.append(f"| `{name}` | {text.replace('|', '/')} | {obs.replace('|', '/')} |")
    assert not os.path.exists("/tmp/llama-convert-pwned") or PWNED_BEFORE, "a pickle fixture executed code!"
    (bad / "README.md").write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------ main

def manifest(out: Path, extra: dict) -> None:
    files = {}
    for name in OWNED:
        p = out / name
        paths = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file()) if p.exists() else []
        for q in paths:
            if q.name == "MANIFEST.json" and q.parent == out:
                continue
            b = q.read_bytes()
            files[q.relative_to(out).as_posix()] = {"sha256": hashlib.sha256(b).hexdigest(), "size": len(b)}
    v = {**versions(), "numpy": np.__version__, "python": platform.python_version(), **extra}
    dump_json(out / "MANIFEST.json", {"files": dict(sorted(files.items())), "versions": v})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "fixtures"))
    ap.add_argument("--py4", default=os.environ.get("LLAMA_FIXTURES_PY4", "/work/venv4/bin/python"),
                    help="python of a venv with transformers 4.55.x (for fixture 2)")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    if not Path(args.py4).exists():
        sys.exit(f"need a transformers 4.55 venv at {args.py4} (see the docstring), or pass --py4")
    out.mkdir(parents=True, exist_ok=True)
    for name in OWNED:
        p = out / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()

    transformers.logging.set_verbosity_error()
    make_hf_gqa_bf16_sharded(out)
    r = make_hf_mqa_f16_tied_rope31(out, args.py4)
    make_meta_gqa_mp2(out)
    make_meta_mha_l2_mp2(out)
    make_meta_copy_of_hf_mqa(out, r["logits"])
    make_bad(out)
    extra = {"transformers_4x (hf-mqa-f16-tied-rope31)": r["v4"]["transformers"]}
    try:
        from importlib.metadata import version as _pkg_version
        extra["backports.zstd"] = _pkg_version("backports-zstd")
    except Exception:
        pass
    manifest(out, extra)
    print(f"fixtures written to {out}")


if __name__ == "__main__":
    main()
