#!/usr/bin/env python3
"""llama.cpp's prompt and generation speed on a GGUF file, through llama-cpp-python.

Prints one JSON object: prompt_tokens_per_second (one eval of the prompt as a batch) and
generated_tokens_per_second (single-token evals after it, greedy), measured the way
`llama-convert run --json` measures ours. Used by Scripts/bench_forward.sh; run it with the venv
that has llama-cpp-python (/work/venv-llama/bin/python).
"""
import argparse
import json
import time

import numpy as np
from llama_cpp import Llama


def last_argmax(llm):
    # With logits_all off llama.cpp computes the logits of the batch's last token only.
    logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))
    return int(np.argmax(logits))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--tokens", required=True, help="prompt token ids, comma separated")
    p.add_argument("-n", type=int, default=32, help="tokens to generate")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    prompt = [int(t) for t in args.tokens.split(",")]

    llm = Llama(model_path=args.model, n_threads=args.threads, n_threads_batch=args.threads,
                n_ctx=len(prompt) + args.n + 8, n_batch=max(64, len(prompt)), logits_all=False, verbose=False)
    # Touch every page once (as `run` does not; the file is in the page cache either way).
    llm.eval([prompt[0]])
    llm.reset()

    start = time.perf_counter()
    llm.eval(prompt)
    prompt_seconds = time.perf_counter() - start
    next_token = last_argmax(llm)
    generated = [next_token]
    start = time.perf_counter()
    for _ in range(args.n - 1):
        llm.eval([next_token])
        next_token = last_argmax(llm)
        generated.append(next_token)
    generation_seconds = time.perf_counter() - start
    print(json.dumps({
        "prompt": prompt, "generated": generated, "threads": args.threads,
        "prompt_seconds": prompt_seconds, "prompt_tokens_per_second": len(prompt) / prompt_seconds,
        "generation_seconds": generation_seconds,
        "generated_tokens_per_second": (args.n - 1) / generation_seconds if args.n > 1 else None,
    }))


if __name__ == "__main__":
    main()
