"""Helper for make_fixtures.py: save a Llama model with transformers 4.x.

Runs inside a second venv that has transformers 4.55.x (the last line that
writes the old config style: top-level ``rope_theta`` + ``rope_scaling`` and
``torch_dtype``; 4.56+ already writes ``dtype``).  make_fixtures.py calls it as

    /work/venv4/bin/python Scripts/_hf4_save.py JOB.pt

JOB.pt is a ``torch.save`` of {"config": LlamaConfig kwargs, "state_dict":
{HF name: tensor}, "dtype": "float16"|"bfloat16"|"float32", "out": folder}.
Prints one JSON line with the library versions to stdout.
"""

import json
import sys

import safetensors
import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM


def main() -> None:
    job = torch.load(sys.argv[1], weights_only=True)
    torch.manual_seed(0)
    dtype = getattr(torch, job["dtype"])
    config = LlamaConfig(**job["config"])
    model = LlamaForCausalLM(config).to(dtype)
    sd = dict(job["state_dict"])
    if config.tie_word_embeddings:  # lm_head shares the embedding; save_pretrained drops it again
        sd["lm_head.weight"] = sd["model.embed_tokens.weight"]
    model.load_state_dict(sd, strict=True)
    model.save_pretrained(job["out"])
    print(json.dumps({
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
    }))


if __name__ == "__main__":
    main()
