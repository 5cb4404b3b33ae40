"""Copy the trained tokenizers of fixtures/tokenizers/ into the model fixtures.

Run from the repository root, after Scripts/make_tokenizer_fixtures.py:

    python3 Scripts/install_fixture_tokenizers.py [--fixtures fixtures]

The model fixtures' weights and reference logits stay as they are (they do not depend on the
tokenizer: every vocabulary has 512 entries, the embedding rows). Each tokenizer kind goes to
at least one HF and one Meta folder, so each is exercised end to end:

  hf-gqa-bf16-sharded     spm/tokenizer.model             (SentencePiece)
  meta-mha-l2-mp2         spm/tokenizer.model             (beside params.json, as Meta ships it)
  meta-gqa-mp2            spm/tokenizer.model
  hf-mqa-f16-tied-rope31  bpe/tokenizer.json + tokenizer_config.json   (byte-level BPE)
  hf-copy-of-meta-gqa     bpe/tokenizer.json + tokenizer_config.json
  meta-copy-of-hf-mqa     tiktoken/tokenizer.model        (Meta Llama 3 tiktoken text)

fixtures/MANIFEST.json (written by make_fixtures.py) gets the copied files' sha256 and size;
its other entries are kept, and the script fails if a weight or reference file no longer
matches its entry.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

PLAN = {
    "hf-gqa-bf16-sharded": ("spm", ["tokenizer.model"]),
    "meta-mha-l2-mp2": ("spm", ["tokenizer.model"]),
    "meta-gqa-mp2": ("spm", ["tokenizer.model"]),
    "hf-mqa-f16-tied-rope31": ("bpe", ["tokenizer.json", "tokenizer_config.json"]),
    "hf-copy-of-meta-gqa": ("bpe", ["tokenizer.json", "tokenizer_config.json"]),
    "meta-copy-of-hf-mqa": ("tiktoken", ["tokenizer.model"]),
}
TOKENIZER_FILES = {"tokenizer.model", "tokenizer.json", "tokenizer_config.json"}


def entry(path: Path) -> dict:
    b = path.read_bytes()
    return {"sha256": hashlib.sha256(b).hexdigest(), "size": len(b)}


def dump_manifest(path: Path, manifest: dict) -> None:
    """The layout make_fixtures.py writes: one line per file entry."""
    def enc(v):
        return json.dumps(v, separators=(", ", ": "))
    files = list(manifest["files"].items())
    lines = ["{", ' "files": {']
    for i, (name, e) in enumerate(files):
        lines.append(f"  {enc(name)}: {enc(e)}" + ("," if i < len(files) - 1 else ""))
    rest = [(k, v) for k, v in manifest.items() if k != "files"]
    lines.append(" }" + ("," if rest else ""))
    for i, (k, v) in enumerate(rest):
        lines.append(f" {enc(k)}: {enc(v)}" + ("," if i < len(rest) - 1 else ""))
    lines.append("}")
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fixtures", default="fixtures")
    args = parser.parse_args()
    root = Path(args.fixtures)
    manifest_path = root / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text())
    files = manifest["files"]
    for name, expected in files.items():
        if (root / name).exists() and Path(name).name not in TOKENIZER_FILES and entry(root / name) != expected:
            raise SystemExit(f"{root / name}: differs from MANIFEST.json; the weights must stay byte-identical")
    for folder, (kind, names) in PLAN.items():
        for stale in TOKENIZER_FILES:
            files.pop(f"{folder}/{stale}", None)
            if (root / folder / stale).exists() and stale not in names:
                (root / folder / stale).unlink()
        for file in names:
            shutil.copyfile(root / "tokenizers" / kind / file, root / folder / file)
            files[f"{folder}/{file}"] = entry(root / folder / file)
            print(f"{folder}/{file}  <- tokenizers/{kind}/{file}")
    manifest["files"] = dict(sorted(files.items()))
    dump_manifest(manifest_path, manifest)


if __name__ == "__main__":
    main()
