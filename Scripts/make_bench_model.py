#!/usr/bin/env python3
"""Writes a randomly initialised Llama checkpoint of realistic width for benchmarks.

Default: hidden 2048, 16 layers, 32 heads / 8 KV heads, ffn 5632, vocab 32000 (853M parameters,
1.7 GB of BF16 in two safetensors shards with model.safetensors.index.json and config.json),
the benchmark model of issues 4-6. Written with torch + safetensors + transformers' LlamaConfig,
so llama.cpp's own converter reads it too. Needs the fixtures venv (see Scripts/make_fixtures.py).

    /work/venv/bin/python Scripts/make_bench_model.py --out bench/llama-853m \
        --tokenizer-model fixtures/tokenizers/spm/tokenizer.model
"""
import argparse
import json
import os
import shutil

import torch
from safetensors.torch import save_file
from transformers import LlamaConfig


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--hidden", type=int, default=2048)
    p.add_argument("--layers", type=int, default=16)
    p.add_argument("--heads", type=int, default=32)
    p.add_argument("--kv-heads", type=int, default=8)
    p.add_argument("--ffn", type=int, default=5632)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--shards", type=int, default=2)
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    p.add_argument("--tokenizer-model", default=None,
                   help="SentencePiece tokenizer.model to copy into the folder (llama.cpp's "
                        "convert_hf_to_gguf.py refuses a folder without a tokenizer; it pads a "
                        "smaller vocabulary to vocab_size with [PADn] tokens)")
    a = p.parse_args()

    dtype = getattr(torch, a.dtype)
    os.makedirs(a.out, exist_ok=True)
    config = LlamaConfig(vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.ffn,
                         num_hidden_layers=a.layers, num_attention_heads=a.heads,
                         num_key_value_heads=a.kv_heads, max_position_embeddings=2048,
                         rms_norm_eps=1e-5, tie_word_embeddings=False,
                         architectures=["LlamaForCausalLM"])
    config.save_pretrained(a.out)
    if a.tokenizer_model:
        shutil.copyfile(a.tokenizer_model, os.path.join(a.out, "tokenizer.model"))

    g = torch.Generator().manual_seed(1234)
    hd = a.hidden // a.heads

    def w(rows, cols):
        return (torch.randn(rows, cols, generator=g) * 0.02).to(dtype)

    def norm():
        return (1 + 0.1 * torch.randn(a.hidden, generator=g)).to(dtype)

    names = []
    tensors = {"model.embed_tokens.weight": w(a.vocab, a.hidden)}
    names.append(list(tensors))
    per_shard = (a.layers + a.shards - 1) // a.shards
    shards = [tensors]
    for s in range(a.shards):
        if s > 0:
            shards.append({})
        t = shards[-1]
        for i in range(s * per_shard, min(a.layers, (s + 1) * per_shard)):
            pre = f"model.layers.{i}."
            t[pre + "input_layernorm.weight"] = norm()
            t[pre + "self_attn.q_proj.weight"] = w(a.heads * hd, a.hidden)
            t[pre + "self_attn.k_proj.weight"] = w(a.kv_heads * hd, a.hidden)
            t[pre + "self_attn.v_proj.weight"] = w(a.kv_heads * hd, a.hidden)
            t[pre + "self_attn.o_proj.weight"] = w(a.hidden, a.heads * hd)
            t[pre + "post_attention_layernorm.weight"] = norm()
            t[pre + "mlp.gate_proj.weight"] = w(a.ffn, a.hidden)
            t[pre + "mlp.up_proj.weight"] = w(a.ffn, a.hidden)
            t[pre + "mlp.down_proj.weight"] = w(a.hidden, a.ffn)
    shards[-1]["model.norm.weight"] = norm()
    shards[-1]["lm_head.weight"] = w(a.vocab, a.hidden)

    weight_map, total = {}, 0
    for s, t in enumerate(shards):
        name = f"model-{s + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(t, os.path.join(a.out, name), metadata={"format": "pt"})
        for k, v in t.items():
            weight_map[k] = name
            total += v.numel() * v.element_size()
    with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    print(f"{a.out}: {sum(v.numel() for t in shards for v in t.values())} parameters, {total} bytes")


if __name__ == "__main__":
    main()
