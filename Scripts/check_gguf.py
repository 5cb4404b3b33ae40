#!/usr/bin/env python3
"""Checks a GGUF file written by llama-convert with gguf-py (an independent reader and quantizer).

    python3 Scripts/check_gguf.py OUT.gguf [--expect EXPECT.json]

Without --expect: gguf-py must read the file; offsets must be 32-aligned running sums of padded sizes
(ggml/src/gguf.cpp), the file padded at the end; every llama key llama.cpp reads must have the GGUF
type it checks (UINT32 counts, FLOAT32 base/eps, ...); 1-D tensors and rope_freqs must be F32.
With --expect (written by the library's `ggufExpectation`, format in formats/gguf.md): metadata keys,
order, types and values; tensor names, types, shapes and offsets; gguf.quants.dequantize of every
tensor must equal our own dequantized values exactly (CRC-32 of the float32 bytes, first values,
sum); where source floats are given, the dequantized values must be within the type's bound of
them and, for F32/F16/BF16/Q8_0/Q4_0/Q4_1/Q5_0/Q5_1, gguf.quants.quantize(source) must equal the
stored bytes byte for byte. Needs only `pip install gguf numpy`. Exit status 1 on any failure.
"""
import argparse
import json
import math
import sys
import zlib
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT, GGUFValueType as VT
from gguf.quants import dequantize, quantize

# Keys llama.cpp's llama loader reads, with the type it insists on (src/llama-model-loader.cpp).
LLAMA_KEYS = {
    "general.architecture": (VT.STRING, True),
    "general.name": (VT.STRING, False),
    "general.file_type": (VT.UINT32, False),
    "general.quantization_version": (VT.UINT32, False),
    "general.alignment": (VT.UINT32, False),
    "llama.context_length": (VT.UINT32, True),
    "llama.embedding_length": (VT.UINT32, True),
    "llama.block_count": (VT.UINT32, True),
    "llama.feed_forward_length": (VT.UINT32, True),
    "llama.attention.head_count": (VT.UINT32, True),
    "llama.attention.head_count_kv": (VT.UINT32, False),
    "llama.attention.layer_norm_rms_epsilon": (VT.FLOAT32, True),
    "llama.attention.key_length": (VT.UINT32, False),
    "llama.attention.value_length": (VT.UINT32, False),
    "llama.rope.freq_base": (VT.FLOAT32, False),
    "llama.rope.dimension_count": (VT.UINT32, False),
    "llama.vocab_size": (VT.UINT32, False),
    "tokenizer.ggml.model": (VT.STRING, False),
    "tokenizer.ggml.pre": (VT.STRING, False),
    "tokenizer.ggml.bos_token_id": (VT.UINT32, False),
    "tokenizer.ggml.eos_token_id": (VT.UINT32, False),
    "tokenizer.ggml.unknown_token_id": (VT.UINT32, False),
    "tokenizer.ggml.padding_token_id": (VT.UINT32, False),
    "tokenizer.ggml.add_bos_token": (VT.BOOL, False),
    "tokenizer.ggml.add_eos_token": (VT.BOOL, False),
    "tokenizer.ggml.add_space_prefix": (VT.BOOL, False),
    "tokenizer.chat_template": (VT.STRING, False),
}
LLAMA_ARRAYS = {
    "tokenizer.ggml.tokens": VT.STRING,
    "tokenizer.ggml.scores": VT.FLOAT32,
    "tokenizer.ggml.token_type": VT.INT32,
    "tokenizer.ggml.merges": VT.STRING,
}
REQUANTIZABLE = {QT.F32, QT.F16, QT.BF16, QT.Q8_0, QT.Q4_0, QT.Q4_1, QT.Q5_0, QT.Q5_1}


class Checker:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.checks = 0

    def check(self, ok: bool, message: str) -> bool:
        self.checks += 1
        if not ok:
            self.failures.append(message)
        return ok


def field_type(field) -> VT:
    return VT(field.types[0])


def field_body(field) -> bytes:
    """The value's encoding after its type: for arrays element type, count, elements."""
    return b"".join(p.tobytes() for p in field.parts[3:])


def scalar(field):
    t = field_type(field)
    if t == VT.STRING:
        return bytes(field.parts[-1]).decode("utf-8")
    return field.parts[-1].tolist()[0]


def as_float(v) -> float:
    return float(v)  # JSON numbers, or the strings "inf", "-inf", "nan"


def block_bound(src: np.ndarray, qtype: QT) -> np.ndarray:
    """Largest allowed |source - dequantized| per element (a sanity bound; exactness is checked elsewhere)."""
    x = src.astype(np.float64)
    if qtype == QT.F32:
        return np.zeros_like(x)
    if qtype == QT.F16:
        return np.abs(x) * 2.0 ** -11 + 2.0 ** -25
    if qtype == QT.BF16:
        return np.abs(x) * 2.0 ** -8 + 1e-38
    block, levels, signed = {
        QT.Q8_0: (32, 127, True), QT.Q4_0: (32, 8, True), QT.Q5_0: (32, 16, True),
        QT.Q4_1: (32, 15, False), QT.Q5_1: (32, 31, False),
        QT.Q4_K: (32, 15 / 2, False), QT.Q5_K: (32, 31 / 2, False), QT.Q6_K: (16, 32 / 2, True),
    }[qtype]
    b = x.reshape(-1, block)
    amax = np.abs(b).max(axis=1, keepdims=True)
    if signed:
        step = amax / levels
        m = 0
    else:
        lo, hi = b.min(axis=1, keepdims=True), b.max(axis=1, keepdims=True)
        step = (hi - np.minimum(lo, 0 if qtype in (QT.Q4_K, QT.Q5_K) else lo)) / levels
        m = np.abs(lo)
    bound = step * 1.01 + amax * 0.002 + m * 0.001 + (levels + 2) * 2.0 ** -25
    return np.broadcast_to(bound, b.shape).reshape(x.shape)


def check_structure(c: Checker, reader: gguf.GGUFReader, path: Path) -> None:
    alignment = 32
    if (f := reader.fields.get("general.alignment")) is not None:
        c.check(field_type(f) == VT.UINT32, "general.alignment is not UINT32")
        alignment = int(scalar(f))
    c.check(reader.data_offset % alignment == 0, f"data section at {reader.data_offset} is not {alignment}-aligned")
    running = 0
    for t in reader.tensors:
        rel = t.data_offset - reader.data_offset
        c.check(rel == running, f"{t.name}: offset {rel}, expected running padded sum {running}")
        running = rel + (t.n_bytes + alignment - 1) // alignment * alignment
        c.check(len(t.name.encode()) <= 63, f"{t.name}: name longer than 63 bytes")
        if len(t.shape) == 1 or t.name.endswith("_norm.weight") or t.name == "rope_freqs.weight":
            c.check(t.tensor_type == QT.F32, f"{t.name}: {t.tensor_type.name}, llama.cpp expects F32")
    c.check(path.stat().st_size == reader.data_offset + running,
            f"file is {path.stat().st_size} bytes, expected {reader.data_offset + running} (tail padding)")
    for key, (vtype, required) in LLAMA_KEYS.items():
        f = reader.fields.get(key)
        if f is None:
            c.check(not required, f"required key {key} is missing")
        else:
            c.check(field_type(f) == vtype, f"{key} is {field_type(f).name}, llama.cpp reads {vtype.name}")
    for key, etype in LLAMA_ARRAYS.items():
        if (f := reader.fields.get(key)) is not None:
            c.check(field_type(f) == VT.ARRAY and VT(f.types[-1]) == etype, f"{key} is not an ARRAY of {etype.name}")
    if (f := reader.fields.get("general.architecture")) is not None:
        c.check(scalar(f) == "llama", f"general.architecture is {scalar(f)!r}")


def check_expectation(c: Checker, reader: gguf.GGUFReader, expect: dict, base: Path) -> None:
    c.check(expect.get("format") == "llama-convert/gguf-expect/1", f"unknown EXPECT format {expect.get('format')!r}")
    fields = [f for f in reader.fields.values() if not f.name.startswith("GGUF.")]
    c.check([f.name for f in fields] == [m["key"] for m in expect["metadata"]], "metadata keys or their order differ")
    for m in expect["metadata"]:
        f = reader.fields.get(m["key"])
        if not c.check(f is not None, f"{m['key']}: missing"):
            continue
        t = field_type(f)
        if not c.check(t.name == m["type"], f"{m['key']}: type {t.name}, expected {m['type']}"):
            continue
        if t == VT.ARRAY:
            body = field_body(f)
            count = int(np.frombuffer(body[4:12], dtype="<u8")[0])
            c.check(VT(int(np.frombuffer(body[:4], dtype="<u4")[0])).name == m["element_type"], f"{m['key']}: element type differs")
            c.check(count == m["count"], f"{m['key']}: {count} elements, expected {m['count']}")
            c.check(zlib.crc32(body) == m["crc32"], f"{m['key']}: array bytes differ (crc32)")
        elif t in (VT.FLOAT32, VT.FLOAT64):
            got, want = scalar(f), as_float(m["value"])
            if t == VT.FLOAT32:
                same = np.float32(got).tobytes() == np.float32(want).tobytes() or (math.isnan(got) and math.isnan(want))
            else:
                same = got == want or (math.isnan(got) and math.isnan(want))
            c.check(same, f"{m['key']}: {got!r}, expected {want!r}")
        else:
            c.check(scalar(f) == m["value"], f"{m['key']}: {scalar(f)!r}, expected {m['value']!r}")

    c.check(len(reader.tensors) == len(expect["tensors"]), f"{len(reader.tensors)} tensors, expected {len(expect['tensors'])}")
    for t, e in zip(reader.tensors, expect["tensors"]):
        name = e["name"]
        c.check(t.name == name, f"tensor {t.name!r} where {name!r} was expected")
        c.check(t.tensor_type.name == e["type"], f"{name}: type {t.tensor_type.name}, expected {e['type']}")
        c.check(list(reversed(t.shape.tolist())) == e["shape"], f"{name}: shape {list(reversed(t.shape.tolist()))}, expected {e['shape']}")
        c.check(t.data_offset - reader.data_offset == e["offset"], f"{name}: offset differs")
        c.check(int(t.n_bytes) == e["byte_count"], f"{name}: {t.n_bytes} bytes, expected {e['byte_count']}")
        with np.errstate(all="ignore"):
            deq = np.ascontiguousarray(dequantize(t.data, t.tensor_type), dtype="<f4").reshape(-1)
        d = e["dequant"]
        c.check(deq.size == d["count"], f"{name}: {deq.size} values, expected {d['count']}")
        c.check(zlib.crc32(deq.tobytes()) == d["crc32"], f"{name}: gguf-py's dequantized values differ from ours (crc32)")
        first = np.array([as_float(v) for v in d["first"]], dtype=np.float32)
        # JSON keeps no sign on zero; the CRC above already compares the bits.
        c.check(np.array_equal(deq[:len(first)], first), f"{name}: first values {deq[:len(first)].tolist()} != {first.tolist()}")
        s, want = float(np.sum(deq, dtype=np.float64)), as_float(d["sum"])
        c.check(math.isnan(s) and math.isnan(want) or abs(s - want) <= 1e-9 * (float(np.sum(np.abs(deq), dtype=np.float64)) + 1),
                f"{name}: sum {s}, expected {want}")
        if (src := e.get("source")) is None:
            continue
        src_path = Path(src["file"])
        src_path = src_path if src_path.is_absolute() else base / src_path
        x = np.fromfile(src_path, dtype="<f4", count=src["count"], offset=src["offset"])
        if not c.check(x.size == deq.size, f"{name}: source has {x.size} values"):
            continue
        if t.tensor_type in REQUANTIZABLE or t.tensor_type in (QT.Q4_K, QT.Q5_K, QT.Q6_K):
            with np.errstate(all="ignore"):
                err = np.abs(x.astype(np.float64) - deq.astype(np.float64))
                bad = ~(err <= block_bound(x, t.tensor_type))
            c.check(not bad.any(), f"{name}: {int(bad.sum())} values outside the {t.tensor_type.name} bound of the source"
                                   f" (worst error {float(np.nanmax(err)) if err.size else 0})")
        if t.tensor_type in REQUANTIZABLE:
            with np.errstate(all="ignore"):
                ref = quantize(x.reshape(tuple(e["shape"])), t.tensor_type)
            same = ref.tobytes() == t.data.tobytes()
            if not same and t.tensor_type != QT.F32:
                row = ref.reshape(-1).view(np.uint8)
                ours = t.data.reshape(-1).view(np.uint8)
                diff = np.flatnonzero(row != ours)
                c.check(False, f"{name}: gguf.quants.quantize(source) differs from our bytes in {diff.size} bytes, first at {diff[0]}")
            else:
                c.check(same, f"{name}: F32 data differs from the source")


def check_rewrite(c: Checker, reader: gguf.GGUFReader, path: Path) -> None:
    """Re-emits the file with gguf-py's GGUFWriter (same KVs in order, same tensor bytes): the two
    files must be byte-identical, i.e. our header, tensor infos, offsets and padding are gguf-py's."""
    import tempfile
    alignment = 32
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rewrite.gguf"
        import logging
        logging.getLogger("gguf.gguf_writer").setLevel(logging.ERROR)  # it pre-adds general.architecture
        w = gguf.GGUFWriter(out, arch="llama")
        for f in reader.fields.values():
            if f.name.startswith("GGUF."):
                continue
            t = field_type(f)
            if t == VT.ARRAY:
                sub = VT(int(np.frombuffer(field_body(f)[:4], dtype="<u4")[0]))
                if sub == VT.ARRAY:
                    print(f"{path}: --compare-writer skipped: {f.name} is a nested array")
                    return
                values = [bytes(f.parts[i]) for i in f.data] if sub == VT.STRING else [f.parts[i].tolist()[0] for i in f.data]
                w.add_key_value(f.name, values, VT.ARRAY, sub_type=sub)
            else:
                value = bytes(f.parts[-1]) if t == VT.STRING else f.parts[-1].tolist()[0]
                w.add_key_value(f.name, value, t)
                if f.name == "general.alignment":
                    alignment = int(value)
        w.data_alignment = alignment
        for t in reader.tensors:
            w.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        a, b = path.read_bytes(), out.read_bytes()
        first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)) if len(a) != len(b) else None)
        c.check(first is None, f"differs from gguf-py's GGUFWriter output at byte {first} (sizes {len(a)} and {len(b)})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gguf", type=Path)
    ap.add_argument("--expect", type=Path)
    ap.add_argument("--compare-writer", action="store_true",
                    help="also rewrite the file with gguf.GGUFWriter and require identical bytes")
    args = ap.parse_args()
    c = Checker()
    try:
        reader = gguf.GGUFReader(args.gguf, "r")
    except Exception as exc:  # gguf-py raises ValueError/struct errors on malformed files
        print(f"{args.gguf}: gguf-py cannot read it: {exc}")
        return 1
    check_structure(c, reader, args.gguf)
    if args.compare_writer:
        check_rewrite(c, reader, args.gguf)
    if args.expect is not None:
        # Swift's JSONEncoder writes a float -0.0 as `-0`, which Python's json would read as the int 0
        # and so lose the sign that the byte-exact comparison of first values needs.
        expect = json.loads(args.expect.read_text(), parse_int=lambda s: -0.0 if s == "-0" else int(s))
        check_expectation(c, reader, expect, args.expect.parent)
    for f in c.failures:
        print(f"{args.gguf}: {f}")
    print(f"{args.gguf}: {len(reader.tensors)} tensors, {len(reader.fields)} fields: "
          f"{c.checks - len(c.failures)} passed, {len(c.failures)} failed")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
