#!/usr/bin/env python3
"""The peer's quantize step for Scripts/bench_convert.sh: llama.cpp's llama_model_quantize through
llama-cpp-python, with llama_model_quantize_default_params() and only ftype and nthread changed.

    /work/venv-llama/bin/python Scripts/peer_quantize.py IN-F16.gguf OUT.gguf q4_0|q4_k_m [--threads 2]
"""
import argparse
import sys

import ctypes

import llama_cpp

FTYPES = {"q4_0": 2, "q4_k_m": 15}  # LLAMA_FTYPE_MOSTLY_Q4_0, LLAMA_FTYPE_MOSTLY_Q4_K_M


def main():
    p = argparse.ArgumentParser()
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("ftype", choices=sorted(FTYPES))
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FTYPES[a.ftype]
    params.nthread = a.threads
    rc = llama_cpp.llama_model_quantize(a.input.encode(), a.output.encode(), ctypes.byref(params))
    if rc != 0:
        print(f"llama_model_quantize failed: {rc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
