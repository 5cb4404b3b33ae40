#!/usr/bin/env python3
"""Loads llama-convert's GGUF files in llama.cpp (llama-cpp-python) and checks tokenizer and logits.

    /work/venv-llama/bin/python Scripts/check_llamacpp.py [--cli .build/debug/llama-convert]
                                                         [--quants f32,f16,q8_0,q4_0,q4] [--keep DIR]
    LLAMA_CONVERT_LLAMACPP_DIR=/tmp/lc swift test --filter LlamaCppInteropTests
    /work/venv-llama/bin/python Scripts/check_llamacpp.py --ours /tmp/lc

Not run in CI: it needs llama-cpp-python (0.3.36 is built in /work/venv-llama). For each model
fixture (fixtures/*/reference.json) and each --quant, the CLI converts the folder to a GGUF, and
llama.cpp loads it (`llama_cpp.Llama(model_path, logits_all=True, n_ctx=64, verbose=False,
n_threads=2)`). Then:

  tokenizer  llama.cpp's `tokenize` of every sample text of fixtures/tokenizers/KIND/expected.json
             must give the reference ids (with and without BOS). Those are the ids of the reference
             libraries, which the Swift encoders reproduce exactly (TokenizerTests). Special tokens
             in the text are parsed as the reference library does: not for SentencePiece, yes for
             byte-level BPE (tokenizers' added tokens) and tiktoken (allowed_special="all").
  logits     llama.cpp's logits for reference.json `tokens` against reference.json `logits` (the
             transformers forward pass of the source weights) and, with --ours, against our own
             forward pass (Reference/Transformer) on the same file. max |difference|
             is measured twice: with the context above (F16 KV cache, the
             default) and with type_k = type_v = F32, which must give < 1e-3 for F32 files and
             < 1e-2 for F16 files (llama.cpp rounds activations to F16 for F16 weights; see
             TOLERANCE). For every file the
             mean KL(transformers || llama.cpp) over the positions is reported, with the top-1
             agreement. With --ours, quantized files must give KL(ours || llama.cpp) < 1e-3 (Q8_0)
             or < 3e-3 (4-bit types) and the same top-1 token at every position except where our
             two best logits are within 0.1. F16 files are checked as explained at the end of main().

When llama.cpp refuses a file, the model is loaded again with verbose=True in a subprocess and
everything llama.cpp printed is shown. Exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import llama_cpp

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
# Which tokenizer each model fixture carries (Scripts/install_fixture_tokenizers.py).
TOKENIZER = {
    "hf-gqa-bf16-sharded": "spm", "meta-mha-l2-mp2": "spm", "meta-gqa-mp2": "spm",
    "hf-mqa-f16-tied-rope31": "bpe", "hf-copy-of-meta-gqa": "bpe", "meta-copy-of-hf-mqa": "tiktoken",
}
PARSE_SPECIAL = {"spm": False, "bpe": True, "tiktoken": True}
# max |logit difference| allowed, measured with an F32 KV cache (llama.cpp's default F16 cache
# rounds K and V, ~2e-3 on these logits). F32 files hold the source values exactly (bf16/f16
# widened); F16 files too for these sources, but llama.cpp's CPU matmul with F16 weights rounds
# the activations to F16 as well (vec_dot_type), which moves the logits by a few 1e-3.
TOLERANCE = {"f32": 1e-3, "f16": 1e-2}
# Against our forward pass on the same file (--ours): quantized files are compared by KL(ours ||
# llama.cpp), since llama.cpp also rounds the activations to 8 bits for quantized products.
KL_BOUND = {"q8_0": 1e-3}
KL_BOUND_4BIT = 3e-3
# Where the two implementations pick different top-1 tokens, ours must have had its two best
# logits within this margin (a near tie that the activation rounding can flip).
TOP1_MARGIN = 0.1
GGML_TYPE_F32 = 0


def top1_exceptions(ours: np.ndarray, theirs: np.ndarray) -> tuple[int, int]:
    """(positions where the top-1 tokens differ, of those the ones NOT explained by a near tie in ours)."""
    differ = np.flatnonzero(ours.argmax(-1) != theirs.argmax(-1))
    top2 = np.sort(ours[differ], axis=-1)[:, -2:] if len(differ) else np.zeros((0, 2))
    return len(differ), int((top2[:, 1] - top2[:, 0] >= TOP1_MARGIN).sum())


def llama_output(path: Path) -> str:
    """Everything llama.cpp prints while loading `path` (verbose), from a fresh process."""
    code = ("import llama_cpp, sys\n"
            f"llama_cpp.Llama(model_path={str(path)!r}, logits_all=True, n_ctx=64, verbose=True, n_threads=2)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return (run.stdout + run.stderr).strip()


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def logits(llm: llama_cpp.Llama, tokens: list[int]) -> np.ndarray:
    llm.reset()
    llm.eval(tokens)
    return np.array(llm.scores[: len(tokens)], dtype=np.float64)


def check_tokenizer(llm: llama_cpp.Llama, kind: str) -> tuple[int, int, list[str]]:
    samples = json.loads((FIXTURES / "tokenizers" / kind / "expected.json").read_text())["samples"]
    special = PARSE_SPECIAL[kind]
    bad = []
    for s in samples:
        text = s["text"].encode("utf-8")
        plain = llm.tokenize(text, add_bos=False, special=special)
        with_bos = llm.tokenize(text, add_bos=True, special=special)
        if plain != s["ids"] or with_bos != s["ids_with_bos"]:
            bad.append(f"{s['text']!r}: llama.cpp {with_bos}, reference {s['ids_with_bos']}")
    return len(samples), len(bad), bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cli", default=str(ROOT / ".build/debug/llama-convert"))
    parser.add_argument("--quants", default="f32,f16,q8_0,q4_0,q4")
    parser.add_argument("--keep", help="write the GGUF files here instead of a temporary folder")
    parser.add_argument("--ours", help="use the GGUF files and our forward pass's logits (FOLDER.QUANT.gguf and "
                        ".gguf.ours.json) written here by `LLAMA_CONVERT_LLAMACPP_DIR=DIR swift test --filter "
                        "LlamaCppInteropTests` instead of converting with the CLI")
    args = parser.parse_args()
    out_dir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="check-llamacpp-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    rows = []
    seen_tokenizer = set()
    ours_rows = []
    exact_by: dict[tuple[str, str], np.ndarray] = {}
    ours_by: dict[tuple[str, str], np.ndarray] = {}
    print(f"llama-cpp-python {llama_cpp.__version__}; CLI {args.cli}")
    for folder, kind in TOKENIZER.items():
        ref = json.loads((FIXTURES / folder / "reference.json").read_text())
        tokens = ref["tokens"]
        ref_logits = np.array(ref["logits"], dtype=np.float64)
        for quant in args.quants.split(","):
            if args.ours:
                path = Path(args.ours) / f"{folder}.{quant}.gguf"
                ours_file = Path(str(path) + ".ours.json")
                if not path.exists() or not ours_file.exists():
                    print(f"FAIL {folder} {quant}: {path} or {ours_file.name} missing")
                    failures += 1
                    continue
                ours = json.loads(ours_file.read_text())
                assert ours["tokens"] == tokens, "reference tokens differ"
                ours_logits = np.array(ours["logits"], dtype=np.float64)
                inspect = subprocess.run([args.cli, "inspect", str(path), "--json"], capture_output=True, text=True)
                tok = (json.loads(inspect.stdout).get("tokenizer") or {}) if inspect.returncode == 0 else {}
            else:
                ours_logits = None
            path = path if args.ours else out_dir / f"{folder}.{quant}.gguf"
            conv = None if args.ours else subprocess.run([args.cli, str(FIXTURES / folder), str(path), "--quant", quant, "--quiet", "--json"],
                                  capture_output=True, text=True)
            if conv is not None and conv.returncode != 0:
                print(f"FAIL {folder} {quant}: llama-convert exit {conv.returncode}\n{conv.stderr.strip()}")
                failures += 1
                continue
            if conv is not None:
                tok = json.loads(conv.stdout).get("tokenizer") or {}
            try:
                llm = llama_cpp.Llama(model_path=str(path), logits_all=True, n_ctx=64, verbose=False, n_threads=2)
            except Exception as error:  # llama-cpp-python raises ValueError with no detail
                print(f"FAIL {folder} {quant}: llama.cpp refused the file: {error}\n--- llama.cpp output ---\n"
                      f"{llama_output(path)}\n---")
                failures += 1
                continue
            meta = llm.metadata
            line = f"{folder:24} {quant:5} tokenizer {tok.get('kind')}/{meta.get('tokenizer.ggml.model')}"
            line += f" pre={meta.get('tokenizer.ggml.pre')}"
            # The tokenizer does not depend on the weight type: check it once per fixture.
            if folder not in seen_tokenizer:
                seen_tokenizer.add(folder)
                count, nbad, bad = check_tokenizer(llm, kind)
                line += f" samples {count - nbad}/{count} exact"
                if nbad:
                    failures += 1
                    line += " FAIL\n    " + "\n    ".join(bad[:10])
            got = logits(llm, tokens)
            del llm
            # Again with an F32 KV cache: llama.cpp's default F16 cache alone moves the logits by ~2e-3.
            exact = logits(llama_cpp.Llama(model_path=str(path), logits_all=True, n_ctx=64, verbose=False, n_threads=2,
                                           type_k=GGML_TYPE_F32, type_v=GGML_TYPE_F32), tokens)
            diff = float(np.abs(got - ref_logits).max())
            diff32 = float(np.abs(exact - ref_logits).max())
            p = log_softmax(ref_logits)
            kl = float((np.exp(p) * (p - log_softmax(got))).sum(axis=-1).mean())
            top1 = float((got.argmax(-1) == ref_logits.argmax(-1)).mean())
            line += f" | max|d| {diff:.2e} (f32 kv {diff32:.2e}) KL {kl:.2e} top1 {top1:.3f}"
            if quant in TOLERANCE and not diff32 < TOLERANCE[quant]:
                failures += 1
                line += f" FAIL (> {TOLERANCE[quant]})"
            exact_by[(folder, quant)] = exact
            if ours_logits is not None:
                ours_by[(folder, quant)] = ours_logits
                d_ours = float(np.abs(exact - ours_logits).max())
                q = log_softmax(ours_logits)
                kl_ours = float((np.exp(q) * (q - log_softmax(exact))).sum(axis=-1).mean())
                differ, unexplained = top1_exceptions(ours_logits, exact)
                line += f" | vs ours max|d| {d_ours:.2e} KL {kl_ours:.2e} top1 differs at {differ} ({unexplained} not near ties)"
                if quant in TOLERANCE and not d_ours < TOLERANCE[quant]:
                    failures += 1
                    line += f" FAIL (> {TOLERANCE[quant]})"
                if quant not in TOLERANCE:
                    bound = KL_BOUND.get(quant, KL_BOUND_4BIT)
                    if not kl_ours < bound:
                        failures += 1
                        line += f" FAIL (KL > {bound})"
                    if unexplained:
                        failures += 1
                        line += f" FAIL ({unexplained} top-1 changes where our best two logits were {TOP1_MARGIN}+ apart)"
                ours_rows.append((quant, d_ours, kl_ours, differ, unexplained))
            print(line)
            rows.append((folder, quant, diff32, kl, top1))
    print()
    print("summary per type over the fixtures: KL(transformers || llama.cpp), default context; worst max|d| with F32 KV")
    for quant in args.quants.split(","):
        sel = [r for r in rows if r[1] == quant]
        if sel:
            print(f"  {quant:5} files {len(sel)}  KL mean {np.mean([r[3] for r in sel]):.2e} max {max(r[3] for r in sel):.2e}"
                  f"  worst max|d| {max(r[2] for r in sel):.2e}  top1 min {min(r[4] for r in sel):.3f}")
    if ours_rows:
        print("llama.cpp (F32 KV) vs our forward pass on the same file:")
        for quant in args.quants.split(","):
            sel = [r for r in ours_rows if r[0] == quant]
            if sel:
                print(f"  {quant:5} files {len(sel)}  max|d| worst {max(r[1] for r in sel):.2e}"
                      f"  KL(ours || llama.cpp) mean {np.mean([r[2] for r in sel]):.2e} max {max(r[2] for r in sel):.2e}"
                      f"  top-1 differs at {sum(r[3] for r in sel)} positions, {sum(r[4] for r in sel)} not near ties")
    # F16 files: llama.cpp's x86 CPU product of F16 weights rounds the activations to F16 (the
    # F16 type's vec_dot_type, and tinyBLAS only takes F16 × F16), so on the same file it cannot
    # agree with an F32-activation pass to 1e-3. The F32 file of the same fixture holds the same
    # weight values (our pass gives the same logits on both), and llama.cpp computes it with F32
    # activations: that is where the 1e-3 bound is checked. On the F16 file itself, ours may differ
    # from llama.cpp by at most 1.5x what llama.cpp's own F16 path differs from its F32 path.
    f16_folders = [f for f in TOKENIZER if (f, "f16") in ours_by and (f, "f32") in ours_by and (f, "f32") in exact_by]
    if f16_folders:
        print("F16 files (llama.cpp rounds activations to F16 for F16 weights):")
    for folder in f16_folders:
        same_weights = float(np.abs(ours_by[(folder, "f16")] - ours_by[(folder, "f32")]).max())
        vs_f32_path = float(np.abs(ours_by[(folder, "f16")] - exact_by[(folder, "f32")]).max())
        llama_self = float(np.abs(exact_by[(folder, "f16")] - exact_by[(folder, "f32")]).max())
        vs_f16_path = float(np.abs(ours_by[(folder, "f16")] - exact_by[(folder, "f16")]).max())
        line = (f"  {folder:24} ours f16 vs ours f32 {same_weights:.2e}; ours f16 vs llama.cpp f32 file {vs_f32_path:.2e};"
                f" llama.cpp f16 vs its f32 {llama_self:.2e}; ours f16 vs llama.cpp f16 {vs_f16_path:.2e}")
        if same_weights < 1e-5 and not vs_f32_path < 1e-3:
            failures += 1
            line += " FAIL (> 1e-3 against llama.cpp's F32-activation result for the same weights)"
        if not vs_f16_path <= max(1e-3, 1.5 * llama_self):
            failures += 1
            line += " FAIL (more than 1.5x llama.cpp's own F16 rounding)"
        print(line)
    print(f"{'FAILED' if failures else 'OK'}: {failures} failure(s), {len(rows)} files loaded by llama.cpp")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
