#!/usr/bin/env python3
"""Writes fixtures/quant-vectors/: float rows and gguf-py's Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 bytes for them.

gguf-py's quantizers for these five types are byte-identical to ggml's `quantize_row_*_ref`
(gguf-py/tests/test_quants.py checks that against libggml); this script also checks the SHA-256
of inputs A and B (/work/shared/reference/gguf-and-quant.md §4.5, taken from a libggml build)
before writing anything. Needs only `pip install gguf numpy`.

Files (all little-endian, ROWS x 256 values):
  input.f32            float32 source rows
  <type>.bin           gguf.quants.quantize(rows, type) bytes, row after row
  <type>.dequant.f32   gguf.quants.dequantize(<type>.bin) as float32
  MANIFEST.json        row descriptions, versions, sha256 of every file
"""
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize, dequantize

ROW = 256
SEED = 20240917
TYPES = {"q8_0": T.Q8_0, "q4_0": T.Q4_0, "q4_1": T.Q4_1, "q5_0": T.Q5_0, "q5_1": T.Q5_1}

# §4.5: SHA-256 of the ggml reference output for inputs A and B (one row of 4096 each).
EXPECTED = {
    "q4_0": ("4820852370e0add47661198829d9855edade8ee2e3abb02635a305bce68b8bfc",
             "363013f38f18f2e4ae18b29d18187f345254d49534686c4c00cc30850438fe35"),
    "q4_1": ("db7008f84a8b8ddfa2cec0435687a160863c36dd5e881c320fd42436320ff23b",
             "99b84ba57040a05324f0d7562e1bd9865184ed5b70a3884aa712f413d92147b5"),
    "q5_0": ("7b4fd30abb7f420e9e5d096cead5c12809cf505207bb6ad5c1beae23e78a0cf0",
             "a237ce30dd1d606e2f25e67ef65f30e0e69de6a3b7cab67b4ba684e121a23102"),
    "q5_1": ("dc77c99c046169fe897ca68841a9f63c2e8d0cbf7968535f3816bbedda6de062",
             "67ca561570907d92e9d9af59ca4090e4a81474dee8a9907e0636019348d7da08"),
    "q8_0": ("65425076fc8dbda60bfc9e1d95858adc68bea5e976e0853f907dbc52dabf575b",
             "b4aa0dccd54d77dd3e938e86c9b1fdb6dbe5747e686839fce831d53170b53609"),
}


def input_a() -> np.ndarray:
    i = np.arange(4096, dtype=np.int64)
    return (((i * 7919) % 2001) - 1000).astype(np.float32) / np.float32(1000)


def input_b() -> np.ndarray:
    s = 1
    out = np.empty(4096, dtype=np.float32)
    for k in range(4096):
        acc = np.float32(0)
        for _ in range(4):
            s = (1664525 * s + 1013904223) % (1 << 32)
            u = np.float32(s >> 8) / np.float32(16777216)
            acc = np.float32(acc + u)
        out[k] = np.float32(np.float32(acc - np.float32(2)) * np.float32(0.05))
    return out


def special_rows(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    j = np.arange(ROW)
    rows = []
    rows.append(("all zeros", np.zeros(ROW)))
    rows.append(("constant 0.37", np.full(ROW, 0.37)))
    rows.append(("constant -1.5", np.full(ROW, -1.5)))
    rows.append(("integers (j mod 16) - 8", (j % 16) - 8.0))
    rows.append(("ramp ((j mod 32) - 16) / 8", ((j % 32) - 16) / 8.0))
    rows.append(("negated ramp", -(((j % 32) - 16) / 8.0)))
    # Q8_0 ties: amax 127 makes d = 1, so x * id = k + 0.5 exactly; roundf goes away from zero.
    ties8 = ((j % 32) - 16) + 0.5
    ties8[::32] = 127.0
    ties8[16::64] = -127.0
    rows.append(("Q8_0 halves with amax 127", ties8))
    # Q4_0 with max -8 gives d = 1: x * id + 8.5 lands on integers; Q4_1 with min 0, max 15 also d = 1.
    ties4 = ((j % 16) - 8) + 0.5
    ties4[::32] = -8.0
    rows.append(("Q4_0 halves with extreme -8", ties4))
    ties41 = (j % 16) + 0.5
    ties41[::32] = 0.0
    ties41[1::32] = 15.0
    rows.append(("Q4_1 halves with min 0 max 15", ties41))
    rows.append(("huge: normal x 1e6 (fp16 scale overflows for Q4/Q5)", rng.standard_normal(ROW) * 1e6))
    rows.append(("huge: normal x 1e30", rng.standard_normal(ROW) * 1e30))
    rows.append(("tiny: normal x 1e-30", rng.standard_normal(ROW) * 1e-30))
    tiny = rng.standard_normal(ROW) * 1e-20
    tiny[rng.random(ROW) < 0.5] = 0.0
    rows.append(("tiny: half zeros, normal x 1e-20", tiny))
    single = np.zeros(ROW)
    single[5::32] = rng.standard_normal(ROW // 32)
    rows.append(("one nonzero per block", single))
    both = rng.standard_normal(ROW) * 0.5
    both[3::32] = -2.0
    both[9::32] = 2.0
    both[64 + 3::64] = 2.0
    both[64 + 9::64] = -2.0
    rows.append(("equal |extremes| of both signs (first wins)", both))
    rows.append(("heavy tail: Cauchy x 0.02", rng.standard_cauchy(ROW) * 0.02))
    rows.append(("Laplace x 0.05", rng.laplace(size=ROW) * 0.05))
    rows.append(("positive only: uniform [0.1, 3)", rng.uniform(0.1, 3.0, ROW)))
    rows.append(("negative only: uniform [-3, -0.1)", rng.uniform(-3.0, -0.1, ROW)))
    for k in range(13):
        rows.append((f"llama-like normal x 0.02 #{k}", rng.standard_normal(ROW) * 0.02))
    return rows


def main() -> None:
    out = Path(__file__).resolve().parent.parent / "fixtures" / "quant-vectors"
    out.mkdir(parents=True, exist_ok=True)

    a, b = input_a(), input_b()
    assert np.allclose(a[:4], [-1.0, 0.916, 0.831, 0.746])
    assert np.allclose(b[:4], [-0.0092574302, -0.0124493241, -0.0335716009, 0.0321772806], atol=1e-9)
    for name, (ha, hb) in EXPECTED.items():
        for x, h, label in ((a, ha, "A"), (b, hb, "B")):
            got = hashlib.sha256(quantize(x.reshape(1, -1), TYPES[name]).tobytes()).hexdigest()
            if got != h:
                sys.exit(f"gguf {gguf.__name__} {name} input {label}: sha256 {got} differs from ggml's {h}")

    rng = np.random.default_rng(SEED)
    described = [(f"input A, elements {256 * r}..{256 * r + 255}", a[256 * r:256 * (r + 1)]) for r in range(16)]
    described += [(f"input B, elements {256 * r}..{256 * r + 255}", b[256 * r:256 * (r + 1)]) for r in range(16)]
    described += special_rows(rng)
    rows = np.stack([r.astype(np.float32) for _, r in described])
    assert rows.shape[1] == ROW and np.isfinite(rows).all()

    files = {"input.f32": rows.astype("<f4").tobytes()}
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for name, qtype in TYPES.items():
            q = quantize(rows, qtype)
            files[f"{name}.bin"] = q.tobytes()
            files[f"{name}.dequant.f32"] = dequantize(q, qtype).astype("<f4").tobytes()
    for fname, data in files.items():
        (out / fname).write_bytes(data)

    from importlib.metadata import version
    manifest = {
        "generator": "Scripts/make_quant_vectors.py",
        "gguf": version("gguf"),
        "numpy": np.__version__,
        "seed": SEED,
        "row_length": ROW,
        "rows": [d for d, _ in described],
        "files": {f: hashlib.sha256(data).hexdigest() for f, data in sorted(files.items())},
        "checked_against_ggml": "inputs A and B (rows 0-15, 16-31) match the libggml SHA-256 of §4.5",
    }
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(rows)} rows, {sum(len(d) for d in files.values())} bytes in {out}")


if __name__ == "__main__":
    main()
