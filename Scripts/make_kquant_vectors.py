#!/usr/bin/env python3
"""Reference vectors for the K-quant formats Q4_K, Q5_K and Q6_K, made by llama.cpp's own ggml.

Writes fixtures/kquant-vectors/ (inputs, ggml's block bytes, ggml's dequantized values and a
MANIFEST.json). The library is the libggml-base shared library inside an installed
llama-cpp-python (built from its sdist, see /work/shared/reference/tools.md); it is called through
ctypes: `ggml_quantize_chunk` with no importance matrix (which runs `quantize_row_qN_K_ref`,
ggml/src/ggml-quants.c `quantize_qN_K`) and the type traits' `to_float` (`dequantize_row_qN_K`).

Two kinds of rows:
  * stored rows: their float32 inputs are committed (weight-like, outliers, heavy tails,
    zero, constant, tiny, mixed zero sub-blocks, bf16-rounded, ties);
  * generated rows: inputs defined by an exact float32 formula that the Swift tests regenerate
    (the reference note's inputs A and B and a bulk set), so only their blocks are committed.

gguf-py has no K-quant quantizer (gguf.quants raises NotImplementedError for Q4_K/Q5_K/Q6_K); its
dequantizer is checked against ggml's to_float on every block and the result is recorded.

Usage: python Scripts/make_kquant_vectors.py [--lib PATH] [--out DIR]
       python Scripts/make_kquant_vectors.py --compare-lib OTHER.so   (agreement with another build)
"""

import argparse
import ctypes
import glob
import hashlib
import json
import os
import platform
import sys

import numpy as np

TYPES = {"q4_K": (12, 144), "q5_K": (13, 176), "q6_K": (14, 210)}
QK = 256

# Hashes of ggml's output for the two formula inputs, from the reference note
# (/work/shared/reference/gguf-and-quant.md §4.5, ggml built without FMA).
NOTE_SHA256 = {
    ("inputA", "q4_K"): "973b468ad3eedf4f3b23893dadf3e8a0de19cf7a7668f52b6998da9071338409",
    ("inputB", "q4_K"): "8c80665059f40eedf437af40309adeefc987dad01e081b47cd44c17deb59fd23",
    ("inputA", "q5_K"): "7c2a2935480692ba8b41de8519652e7b088da2f211d2dd9389f4a9fdd71f5dda",
    ("inputB", "q5_K"): "6595940b9503af155575632a8888ca7305dc24c7024ea8326d00219cac01dd3b",
    ("inputA", "q6_K"): "445afde99cef1778beafbba77ba47ca194df525a504c6c701a81eadcd662179f",
    ("inputB", "q6_K"): "3d1fe56f9b77adbba9ffc232831c5ef57472156f416204f3f48b26a030390665",
}


# ----------------------------------------------------------------------------- library


class GGML:
    """ctypes view of the quantize / dequantize entry points of one ggml build."""

    class TypeTraits(ctypes.Structure):
        _fields_ = [
            ("type_name", ctypes.c_char_p),
            ("blck_size", ctypes.c_int64),
            ("blck_size_interleave", ctypes.c_int64),
            ("type_size", ctypes.c_size_t),
            ("is_quantized", ctypes.c_bool),
            ("to_float", ctypes.c_void_p),
            ("from_float_ref", ctypes.c_void_p),
        ]

    ROW_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)

    def __init__(self, path):
        self.path = path
        self.lib = ctypes.CDLL(path)
        self.has_chunk = hasattr(self.lib, "ggml_quantize_chunk")
        if self.has_chunk:
            self.lib.ggml_quantize_chunk.restype = ctypes.c_size_t
            self.lib.ggml_quantize_chunk.argtypes = [
                ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
            self.lib.ggml_quantize_requires_imatrix.restype = ctypes.c_bool
            self.lib.ggml_quantize_requires_imatrix.argtypes = [ctypes.c_int]
            self.lib.ggml_get_type_traits.restype = ctypes.POINTER(GGML.TypeTraits)
            self.lib.ggml_get_type_traits.argtypes = [ctypes.c_int]

    def quantize(self, name, rows):
        """rows: float32 array (nrows, n). Returns uint8 array (nrows, n/256*type_size)."""
        type_id, type_size = TYPES[name]
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        nrows, n = rows.shape
        out = np.zeros((nrows, n // QK * type_size), dtype=np.uint8)
        if self.has_chunk:
            assert not self.lib.ggml_quantize_requires_imatrix(type_id)
            traits = self.lib.ggml_get_type_traits(type_id).contents
            assert traits.blck_size == QK and traits.type_size == type_size, (name, traits.type_size)
            written = self.lib.ggml_quantize_chunk(type_id, rows.ctypes.data, out.ctypes.data, 0, nrows, n, None)
            assert written == out.size
        else:  # a bare build of ggml-quants.c: call the _ref row function itself
            fn = getattr(self.lib, f"quantize_row_{name}_ref")
            fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
            for r in range(nrows):
                fn(rows[r].ctypes.data, out[r].ctypes.data, n)
        return out

    def dequantize(self, name, blocks, n):
        type_id, _ = TYPES[name]
        blocks = np.ascontiguousarray(blocks)
        out = np.zeros((blocks.shape[0], n), dtype=np.float32)
        if self.has_chunk:
            to_float = GGML.ROW_FN(self.lib.ggml_get_type_traits(type_id).contents.to_float)
        else:
            to_float = getattr(self.lib, f"dequantize_row_{name}")
            to_float.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        for r in range(blocks.shape[0]):
            to_float(blocks[r].ctypes.data, out[r].ctypes.data, n)
        return out


def count_fma_instructions(path):
    """Fused multiply-add instructions in the library's code (None if objdump is missing).
    Zero means the compiler could not contract the reference quantizers' a*b+c."""
    import shutil
    import subprocess
    if not shutil.which("objdump"):
        return None
    text = subprocess.run(["objdump", "-d", path], capture_output=True, text=True).stdout
    return sum(1 for line in text.splitlines() if "\tvfmadd" in line or "\tvfmsub" in line or "\tvfnm" in line)


def find_installed_lib():
    try:
        import llama_cpp
    except ImportError:
        sys.exit("llama_cpp is not installed in this interpreter; pass --lib")
    base = os.path.dirname(llama_cpp.__file__)
    hits = sorted(glob.glob(os.path.join(base, "**", "libggml-base.so*"), recursive=True))
    if not hits:
        sys.exit(f"no libggml-base.so under {base}")
    return hits[0], getattr(llama_cpp, "__version__", "?")


# ----------------------------------------------------------------------------- inputs

F32 = np.float32


def to_bf16_then_f32(x):
    """Round float32 to bfloat16 (nearest even), widened back: what a bf16 checkpoint holds."""
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return r.astype(np.uint32).view(np.float32)


def stored_rows():
    """(name, float32 row) pairs whose inputs are committed."""
    rows = []
    n = 512

    def add(name, x):
        x = np.asarray(x, dtype=np.float32)
        assert x.size % QK == 0
        rows.append((name, x))

    for k in range(8):
        rng = np.random.default_rng(100 + k)
        add(f"gauss-{k}", rng.normal(0.0, 0.02, n))
    for k in range(4):
        rng = np.random.default_rng(200 + k)
        x = rng.normal(0.0, 0.02, n)
        idx = rng.choice(n, size=4, replace=False)
        x[idx] = rng.normal(0.0, 0.6, idx.size)
        add(f"outliers-{k}", x)
    for k in range(4):
        rng = np.random.default_rng(300 + k)
        add(f"student-t3-{k}", rng.standard_t(3, n) * 0.01)
    for k in range(4):
        rng = np.random.default_rng(400 + k)
        add(f"bf16-gauss-{k}", to_bf16_then_f32(rng.normal(0.0, 0.03, n).astype(np.float32)))
    for k in range(2):
        rng = np.random.default_rng(500 + k)
        add(f"uniform-positive-{k}", rng.uniform(0.0, 1.0, n))
    rng = np.random.default_rng(600)
    add("uniform-negative", -rng.uniform(0.1, 2.0, n))
    add("zero-256", np.zeros(256))
    add("zero-512", np.zeros(512))
    add("constant-positive", np.full(256, 0.5))
    add("constant-negative", np.full(256, -0.25))
    for k, scale in enumerate([1e-6, 1e-9, 1e-20]):
        rng = np.random.default_rng(700 + k)
        add(f"tiny-{scale:g}", rng.normal(0.0, 1.0, n) * scale)
    rng = np.random.default_rng(800)
    x = rng.normal(0.0, 0.02, n)
    x[0:32] = 0.0       # one zero Q4_K/Q5_K sub-block
    x[64:80] = 0.0      # one zero Q6_K sub-block
    x[288:320] = 1e-18  # a sub-block below GROUP_MAX_EPS
    add("mixed-zero-subblocks", x)
    add("ramp-eighths", (np.arange(n) - 256) / 8.0)           # exact ties for the roundings
    add("ramp-integers", (np.arange(n) % 63) - 31)
    rng = np.random.default_rng(900)
    x = np.zeros(n)
    idx = rng.choice(n, size=12, replace=False)
    x[idx] = rng.normal(0.0, 0.05, idx.size)
    add("sparse", x)
    rng = np.random.default_rng(1000)
    add("large", rng.normal(0.0, 100.0, n))
    # Non-finite and extreme weights: llama-quantize would reject the result
    # (ggml_validate_row_data), but the quantizers must still agree byte for byte.
    for k, special in enumerate([np.nan, np.inf, 1e30]):
        rng = np.random.default_rng(1100 + k)
        x = rng.normal(0.0, 0.02, 256)
        x[[3, 100, 200]] = special
        add(f"special-{special}", x)
    return rows


def input_a(n=4096):
    i = np.arange(n, dtype=np.int64)
    return ((i * 7919) % 2001 - 1000).astype(np.float32) / F32(1000)


def lcg4(n, seed, scale):
    """Four LCG draws per element: x = ((((u1+u2)+u3)+u4) - 2)*scale, all in float32."""
    s = seed
    draws = np.empty(4 * n, dtype=np.uint32)
    for k in range(4 * n):
        s = (1664525 * s + 1013904223) & 0xFFFFFFFF
        draws[k] = s
    u = (draws >> 8).astype(np.float32) / F32(16777216)
    u = u.reshape(n, 4)
    acc = ((u[:, 0] + u[:, 1]) + u[:, 2]) + u[:, 3]
    return (acc - F32(2)) * F32(scale)


BULK_ROWS, BULK_N = 48, 1024


def bulk_scale(r):
    return float(np.float32(0.01 * (1 + r % 7)))


def generated_rows():
    rows = [("inputA", {"kind": "ramp7919", "count": 4096}, input_a()),
            ("inputB", {"kind": "lcg4", "count": 4096, "seed": 1, "scale": 0.05}, lcg4(4096, 1, F32(0.05)))]
    for r in range(BULK_ROWS):
        spec = {"kind": "lcg4", "count": BULK_N, "seed": 1000 + r, "scale": bulk_scale(r)}
        rows.append((f"bulk-{r}", spec, lcg4(BULK_N, 1000 + r, F32(bulk_scale(r)))))
    return rows


# ----------------------------------------------------------------------------- main


def gguf_dequant_matches(name, blocks, ggml_values):
    """gguf-py's numpy dequantizer vs ggml's to_float, bit for bit."""
    import gguf
    from gguf import quants
    qtype = getattr(gguf.GGMLQuantizationType, name.upper())
    ours = quants.dequantize(blocks, qtype).astype(np.float32)
    return bool(np.array_equal(ours.view(np.uint32), ggml_values.view(np.uint32)))


def gguf_has_quantizer(name):
    import gguf
    from gguf import quants
    qtype = getattr(gguf.GGMLQuantizationType, name.upper())
    try:
        quants.quantize(np.zeros((1, QK), dtype=np.float32), qtype)
        return True
    except NotImplementedError:
        return False


def compare(main, other):
    """Share of identical blocks between two ggml builds on all rows."""
    for name in TYPES:
        _, ts = TYPES[name]
        same = total = 0
        for group in (stored_rows(), [(a, c) for a, _, c in generated_rows()]):
            for _, x in group:
                a = main.quantize(name, x[None, :]).reshape(-1, ts)
                b = other.quantize(name, x[None, :]).reshape(-1, ts)
                same += int(np.sum(np.all(a == b, axis=1)))
                total += a.shape[0]
        print(f"{name}: {same}/{total} identical blocks ({100.0 * same / total:.3f}%)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", help="libggml-base.so (default: the one inside the installed llama_cpp)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "fixtures", "kquant-vectors"))
    ap.add_argument("--compare-lib", help="print block agreement of another ggml build and exit")
    args = ap.parse_args()

    version = "?"
    if args.lib:
        lib_path = args.lib
    else:
        lib_path, version = find_installed_lib()
    ggml = GGML(lib_path)
    if args.compare_lib:
        compare(ggml, GGML(args.compare_lib))
        return

    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    files = {}

    def write(fname, array):
        data = np.ascontiguousarray(array).tobytes()
        with open(os.path.join(out, fname), "wb") as f:
            f.write(data)
        files[fname] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    stored = stored_rows()
    offsets, cursor = [], 0
    for name, x in stored:
        offsets.append({"name": name, "offset": cursor, "count": int(x.size)})
        cursor += x.size
    write("stored-inputs.f32", np.concatenate([x for _, x in stored]).astype("<f4"))

    checks = {}
    gguf_checks = {}
    for tname, (_, ts) in TYPES.items():
        blocks, deq = [], []
        for _, x in stored:
            b = ggml.quantize(tname, x[None, :])
            blocks.append(b.reshape(-1))
            deq.append(ggml.dequantize(tname, b, x.size).reshape(-1))
        all_blocks = np.concatenate(blocks)
        all_deq = np.concatenate(deq)
        write(f"stored-{tname}.bin", all_blocks)
        write(f"stored-{tname}.dequant.f32", all_deq.astype("<f4"))
        gguf_checks[f"stored-{tname}"] = gguf_dequant_matches(tname, all_blocks.reshape(-1, ts), all_deq.reshape(-1, QK))

        gen_blocks = []
        for gname, _, x in generated_rows():
            b = ggml.quantize(tname, x[None, :]).reshape(-1)
            gen_blocks.append(b)
            if (gname, tname) in NOTE_SHA256:
                checks[f"{gname}/{tname}"] = hashlib.sha256(b.tobytes()).hexdigest() == NOTE_SHA256[(gname, tname)]
                d = ggml.dequantize(tname, b[None, :], x.size)
                gguf_checks[f"{gname}-{tname}"] = gguf_dequant_matches(tname, b.reshape(-1, ts), d.reshape(-1, QK))
        write(f"generated-{tname}.bin", np.concatenate(gen_blocks))

    import gguf
    manifest = {
        "generator": "Scripts/make_kquant_vectors.py",
        "library": {
            "path": os.path.basename(lib_path),
            "llama_cpp_python": version,
            "entry_point": "ggml_quantize_chunk(type, rows, dst, 0, nrows, n, imatrix=NULL)" if ggml.has_chunk
            else "quantize_row_*_ref",
            "dequantize": "ggml_get_type_traits(type)->to_float",
            "machine": platform.machine(),
            "fma_instructions": count_fma_instructions(lib_path),
        },
        "numpy": np.__version__,
        "gguf": getattr(gguf, "__version__", None) or _dist_version("gguf"),
        "types": {k: {"ggml_type": v[0], "type_size": v[1]} for k, v in TYPES.items()},
        "stored_rows": offsets,
        "generated_rows": [{"name": g, **spec} for g, spec, _ in generated_rows()],
        "note_sha256_match": checks,
        "gguf_py_dequantize_equals_ggml": gguf_checks,
        "gguf_py_has_quantizer": {t: gguf_has_quantizer(t) for t in TYPES},
        "files": files,
    }
    with open(os.path.join(out, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(v["bytes"] for v in files.values())
    print(f"wrote {len(files)} files, {total} bytes to {out}")
    print("note hashes:", checks)
    print("gguf-py dequantize == ggml:", gguf_checks)


def _dist_version(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:
        return None


if __name__ == "__main__":
    main()
