"""Generate the tokenizer fixtures of llama-convert (fixtures/tokenizers/).

Run from the repository root:

    /work/venv/bin/python Scripts/make_tokenizer_fixtures.py [--out fixtures/tokenizers]

Needs /work/venv with sentencepiece, tokenizers, transformers, tiktoken and gguf (llama.cpp's
gguf-py, whose SpecialVocab gives the special ids, flags and merges llama.cpp's convert writes).

What it writes (every vocabulary has exactly 512 entries, the embedding rows of the model
fixtures):

  spm/        tokenizer.model: a SentencePiece BPE model trained here with Llama's settings
              (byte_fallback, split_digits, dummy prefix, identity normalizer, no extra-space
              removal, unk 0 / bos 1 / eos 2, no pad, whitespace-only pieces allowed).
  bpe/        tokenizer.json: a byte-level BPE trained with `tokenizers`, Llama 3 pre-tokenizer
              (Split on Llama 3's regex, Isolated, then ByteLevel without regex), ByteLevel
              decoder, ignore_merges, 448 base tokens + 64 special tokens named as Meta's
              llama-models tokenizer.py names them (scaled to 64), a post-processor that
              prepends <|begin_of_text|>; tokenizer_config.json (transformers 4.x style) and
              generation_config.json.
  bpe-legacy/ the same tokenizer.json with merges written in the legacy "a b" string form.
  tiktoken/   tokenizer.model: the same 448 base tokens as Meta's tiktoken text format
              (base64(bytes) SP rank, ranks 0..447 in id order, the 256 single bytes first).
  bad/        malformed files, each derived from a good one by a named mutation.

Each good folder has expected.json: sample texts with the reference ids (with and without
BOS, as the library adds it), the library's decode of those ids, and the vocabulary facts.
The references are the libraries themselves: sentencepiece for spm/, tokenizers for bpe/,
tiktoken for tiktoken/ (plus the merges and ids of transformers' TikTokenConverter, which is
how Meta's Llama 3 files become tokenizer.json before llama.cpp converts them).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.metadata
import io
import json
import os
import shutil

import gguf
import sentencepiece as spm
import tiktoken
import tiktoken.load
import tokenizers
import transformers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
N_SPECIAL = 64
N_BASE = 512 - N_SPECIAL

# Training text: English prose, code, numbers, whitespace runs, some non-ASCII and emoji.
CORPUS_LINES = [
    "The quick brown fox jumps over the lazy dog.",
    "A llama is a domesticated South American camelid, widely used as a meat and pack animal.",
    "Llamas are social animals and live with others as a herd. Their wool is soft and contains only a small amount of lanolin.",
    "We've been told he's there, and they'll make it; I'm sure you'd like some tea.",
    "It was the best of times, it was the worst of times, it was the age of wisdom.",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 256 1024 2048 65536 3.14159 2.71828 1e-5 0x7f",
    "The year 2024 had 366 days; the meeting is at 10:30 on 12/05.",
    "def tokenize(text: str) -> list[int]:",
    "    return [vocab[piece] for piece in split(text)]",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }",
    "if x == None:\n    raise ValueError(\"missing value\")\n",
    "let numbers = [1, 2, 3].map { $0 * 2 }  // Swift closure",
    "    indented line with four spaces",
    "\ttab indented line",
    "SELECT name, age FROM users WHERE age > 21 ORDER BY name;",
    "<html><body><p>Hello, world!</p></body></html>",
    "Café au lait, naïve façade, résumé, crème brûlée, Straße, Größe, Fußball.",
    "Über den Wolken muss die Freiheit wohl grenzenlos sein.",
    "El niño comió una manzana y después jugó en el jardín.",
    "Привет, как дела? Всё хорошо, спасибо.",
    "日本語のテキストも少し含めます。東京は日本の首都です。",
    "中文文本：我想在苹果工作。",
    "Emoji: 🙂 🚀 ✅ 🎉 and the end.",
    "Mixed: naïve 42 times, über-fast, 3.14 is pi, e = 2.718...",
    "Whitespace   runs    of     spaces and\n\nnewlines\n\n\nmatter.",
    "Question? Answer! Ellipsis... Dashes -- and --- and ------ and ======",
    "He said: \"Don't do that!\" She replied: 'I won't.'",
    "Once upon a time there was a little program that wanted to learn how to read.",
    "It read every book in the library, from the first page to the last.",
    "Then it wrote its own story, one token at a time.",
]


def corpus() -> list[str]:
    lines = []
    for round_ in range(6):
        for i, line in enumerate(CORPUS_LINES):
            lines.append(line if (i + round_) % 3 else line.lower())
    return lines


# Texts encoded in expected.json (the empty string, leading space, whitespace runs, digits,
# non-ASCII, emoji, newlines, special-token text).
SAMPLES = [
    "",
    "Hello world",
    " Hello world",
    "  leading spaces",
    "trailing spaces   ",
    "The llama jumps over 12345 lazy dogs; pi is 3.14.",
    "whitespace    runs\tand\ttabs\n\nand newlines\n",
    "Café naïve façade Straße ß é",
    "日本語のテキスト",
    "Emoji 🦙 and 🚀!",
    "I've been told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like tea? We'Ve a'lL",
    "def f(x):\n    return x * 2  # comment\n",
    "3..3 3...3 333333 1234567",
    "\n \n\n \t \t\t \t\n",
    "Привет мир",
    "ünïcödé ☃ ∑ x² ½",
]

def random_samples(count: int = 120, seed: int = 7) -> list[str]:
    """Seeded mixes of corpus fragments, whitespace runs, digits, punctuation, contractions,
    accents (precomposed and combining), CJK, emoji (with ZWJ and variation selectors)."""
    import random
    rng = random.Random(seed)
    words = " ".join(CORPUS_LINES).split()
    extras = ["  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "12345", "3.14", "007", "'s", "'RE", "'ll",
              "é", "e\u0301", "ß", "ſ", "日本語", "🦙", "👍🏽", "👨\u200d👩\u200d👧", "❤\ufe0f", "—", "…", "¿", "½", "x²",
              "<|eot_id|>", "<s>", "</s>", "\u00a0", "\u3000", "\u2028", "Ǆ", "ǅ", "Ⅻ", "٣", "۴", "\x00", "\x7f"]
    out = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 12)):
            parts.append(rng.choice(words) if rng.random() < 0.6 else rng.choice(extras))
            parts.append(rng.choice(["", " ", " ", " ", "  ", "\n", "\t"]))
        out.append("".join(parts))
    return out


SAMPLES += random_samples()

SPECIAL_SAMPLES = [
    "<|begin_of_text|>Hello<|eot_id|>",
    "a<|end_of_text|>b <|start_header_id|>user<|end_header_id|>\n\nhi",
]


def special_token_names(count: int) -> list[str]:
    """Meta llama-models models/llama3/tokenizer.py naming, with num_reserved_special_tokens = count."""
    named = [
        "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
        "<|finetune_right_pad_id|>", "<|step_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>",
        "<|eot_id|>", "<|python_tag|>", "<|image|>",
    ]
    return named + [f"<|reserved_special_token_{2 + i}|>" for i in range(count - len(named))]


def bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def special_vocab(folder: str, **kwargs) -> dict:
    """llama.cpp's own gguf-py SpecialVocab on the folder: the ids, flags, merges and template its
    convert writes."""
    sv = gguf.SpecialVocab(folder, **kwargs)
    return {"ids": sv.special_token_ids, "add": sv.add_special_token, "merges": sv.merges,
            "chat_template": sv.chat_template}


def write_json(path: str, value) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=1)
        f.write("\n")


# ---------------------------------------------------------------- SentencePiece

def make_spm(out: str) -> bytes:
    folder = os.path.join(out, "spm")
    os.makedirs(folder)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()), model_writer=model, model_type="bpe", vocab_size=512,
        byte_fallback=True, split_digits=True, add_dummy_prefix=True, normalization_rule_name="identity",
        remove_extra_whitespaces=False, allow_whitespace_only_pieces=True, character_coverage=0.9995,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=1, max_sentence_length=4096,
        minloglevel=2,
    )
    data = model.getvalue()
    with open(os.path.join(folder, "tokenizer.model"), "wb") as f:
        f.write(data)

    sp = spm.SentencePieceProcessor(model_proto=data)
    types = []
    for i in range(sp.vocab_size()):
        # llama.cpp convert: NORMAL unless unknown / control / unused / byte, in that order.
        t = 1
        if sp.IsUnknown(i):
            t = 2
        elif sp.IsControl(i):
            t = 3
        elif sp.IsUnused(i):
            t = 5
        elif sp.IsByte(i):
            t = 6
        types.append(t)
    samples = []
    for text in SAMPLES:
        ids = sp.Encode(text)
        samples.append({"text": text, "ids": ids, "ids_with_bos": sp.Encode(text, add_bos=True),
                        "decoded": sp.DecodeIds(ids)})
    write_json(os.path.join(folder, "expected.json"), {
        "library": f"sentencepiece {spm.__version__}",
        "llama_cpp_special_vocab": special_vocab(folder, n_vocab=sp.vocab_size()),
        "vocab_size": sp.vocab_size(),
        "bos_id": sp.bos_id(), "eos_id": sp.eos_id(), "unk_id": sp.unk_id(), "pad_id": sp.pad_id(),
        "tokens": [sp.IdToPiece(i) for i in range(sp.vocab_size())],
        "scores": [sp.GetScore(i) for i in range(sp.vocab_size())],
        "token_types": types,
        "samples": samples,
    })
    return data


# ---------------------------------------------------------------- byte-level BPE

def train_bpe() -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=N_BASE, min_frequency=1, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(corpus(), trainer)
    assert tok.get_vocab_size() == N_BASE, tok.get_vocab_size()
    tok.model.ignore_merges = True
    names = special_token_names(N_SPECIAL)
    tok.add_special_tokens([AddedToken(n, special=True, normalized=False) for n in names])
    bos = names[0]
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single=f"{bos}:0 $A:0", pair=f"{bos}:0 $A:0 {bos}:1 $B:1",
                                      special_tokens=[(bos, N_BASE)]),
    ])
    return tok


CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


def bpe_expected(tok: Tokenizer, merges: list) -> dict:
    vocab = tok.get_vocab(with_added_tokens=True)
    inverse = {i: t for t, i in vocab.items()}
    samples = []
    for text in SAMPLES + SPECIAL_SAMPLES:
        plain = tok.encode(text, add_special_tokens=False).ids
        with_bos = tok.encode(text, add_special_tokens=True).ids
        samples.append({"text": text, "ids": plain, "ids_with_bos": with_bos,
                        "decoded": tok.decode(plain, skip_special_tokens=False)})
    names = special_token_names(N_SPECIAL)
    return {
        "library": f"tokenizers {tokenizers.__version__}",
        "vocab_size": len(inverse),
        "base_vocab_size": N_BASE,
        "bos_id": vocab[names[0]], "eos_id": vocab["<|eot_id|>"],
        "special_tokens": {n: vocab[n] for n in names},
        "tokens": [inverse[i] for i in range(len(inverse))],
        "merges": [" ".join(m) for m in merges],
        "samples": samples,
    }


def make_bpe(out: str) -> Tokenizer:
    folder = os.path.join(out, "bpe")
    os.makedirs(folder)
    tok = train_bpe()
    path = os.path.join(folder, "tokenizer.json")
    tok.save(path)
    with open(path, encoding="utf-8") as f:
        saved = json.load(f)
    merges = saved["model"]["merges"]
    assert merges and isinstance(merges[0], list), "tokenizers is expected to write merges as pairs"
    assert saved["model"]["ignore_merges"] is True

    names = special_token_names(N_SPECIAL)
    write_json(os.path.join(folder, "tokenizer_config.json"), {
        "added_tokens_decoder": {str(N_BASE + i): {"content": n, "lstrip": False, "normalized": False,
                                                   "rstrip": False, "single_word": False, "special": True}
                                 for i, n in enumerate(names)},
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": "<|begin_of_text|>",
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": True,
        "eos_token": "<|eot_id|>",
        "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": 131072,
        "tokenizer_class": "PreTrainedTokenizerFast",
    })
    write_json(os.path.join(folder, "generation_config.json"), {
        "bos_token_id": N_BASE,
        "eos_token_id": [N_BASE + 1, N_BASE + 8, N_BASE + 9],
        "transformers_version": transformers.__version__,
    })
    expected = bpe_expected(tok, merges)
    # transformers loads the folder the way llama.cpp's convert does (AutoTokenizer): same ids.
    auto = transformers.AutoTokenizer.from_pretrained(folder)
    for s in expected["samples"]:
        assert auto.encode(s["text"], add_special_tokens=False) == s["ids"], s["text"]
    added = auto.get_added_vocab()
    expected["transformers_added_vocab"] = dict(sorted(added.items(), key=lambda kv: kv[1]))
    expected["chat_template"] = CHAT_TEMPLATE
    expected["llama_cpp_special_vocab"] = special_vocab(folder, load_merges=True)
    write_json(os.path.join(folder, "expected.json"), expected)

    legacy = os.path.join(out, "bpe-legacy")
    os.makedirs(legacy)
    saved["model"]["merges"] = [" ".join(m) for m in merges]
    write_json(os.path.join(legacy, "tokenizer.json"), saved)
    assert special_vocab(legacy, load_merges=True)["merges"] == expected["llama_cpp_special_vocab"]["merges"]
    check = Tokenizer.from_file(os.path.join(legacy, "tokenizer.json"))
    for s in expected["samples"]:
        assert check.encode(s["text"], add_special_tokens=False).ids == s["ids"], s["text"]
    return tok


# ---------------------------------------------------------------- tiktoken

def make_tiktoken(out: str, tok: Tokenizer) -> None:
    folder = os.path.join(out, "tiktoken")
    os.makedirs(folder)
    decoder = {c: b for b, c in bytes_to_unicode().items()}
    base = {i: t for t, i in tok.get_vocab(with_added_tokens=False).items()}
    ranks = {}
    lines = []
    for i in range(N_BASE):
        raw = bytes(decoder[c] for c in base[i])
        ranks[raw] = i
        lines.append(f"{base64.b64encode(raw).decode('ascii')} {i}\n")
    assert all(len(t) == 1 for t, r in ranks.items() if r < 256)
    path = os.path.join(folder, "tokenizer.model")
    with open(path, "w", encoding="ascii", newline="") as f:
        f.writelines(lines)

    names = special_token_names(N_SPECIAL)
    enc = tiktoken.Encoding(name="fixture", pat_str=LLAMA3_PATTERN, mergeable_ranks=tiktoken.load.load_tiktoken_bpe(path),
                            special_tokens={n: N_BASE + i for i, n in enumerate(names)})
    bos = N_BASE
    # transformers' converter (used by convert_llama_weights_to_hf.py): its merges are what
    # llama.cpp then reads from tokenizer.json.
    from transformers.convert_slow_tokenizer import TikTokenConverter
    converted = TikTokenConverter(vocab_file=path, pattern=LLAMA3_PATTERN, extra_special_tokens=names).converted()
    conv_json = json.loads(converted.to_str())
    conv_merges = [" ".join(m) if isinstance(m, list) else m for m in conv_json["model"]["merges"]]
    samples = []
    for text in SAMPLES + SPECIAL_SAMPLES:
        ids = enc.encode(text, allowed_special="all")
        assert converted.encode(text, add_special_tokens=False).ids == ids, text
        samples.append({"text": text, "ids": ids, "ids_with_bos": [bos] + ids, "decoded": enc.decode(ids)})
    b2u = bytes_to_unicode()
    write_json(os.path.join(folder, "expected.json"), {
        "library": f"tiktoken {tiktoken.__version__}; transformers {transformers.__version__} TikTokenConverter",
        "vocab_size": N_BASE + N_SPECIAL,
        "base_vocab_size": N_BASE,
        "bos_id": bos, "eos_id": N_BASE + 1,
        "special_tokens": {n: N_BASE + i for i, n in enumerate(names)},
        "tokens": ["".join(b2u[b] for b in t) for t, _ in sorted(ranks.items(), key=lambda kv: kv[1])] + names,
        "merges": conv_merges,
        "samples": samples,
    })


# ---------------------------------------------------------------- malformed files

def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def make_bad(out: str, spm_data: bytes) -> None:
    folder = os.path.join(out, "bad")
    os.makedirs(folder)
    readme = ["# Malformed tokenizer files (generated by Scripts/make_tokenizer_fixtures.py)", ""]

    def put(name: str, data: bytes, why: str) -> None:
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
        readme.append(f"- `{name}`: {why}")

    # Cut in the middle of the first piece's string (field 1 of the first SentencePiece).
    put("spm-truncated.model", spm_data[:9], "the first 9 bytes of spm/tokenizer.model (a piece cut short)")
    put("spm-huge-length.model", b"\x0a" + varint(1 << 62) + spm_data[2:40],
        "field 1 (pieces) with a length varint of 2^62")
    put("spm-overlong-varint.model", b"\x0a" + b"\xff" * 10 + b"\x01",
        "a length varint of 11 bytes (the wire format allows at most 10)")
    put("spm-bad-wiretype.model", b"\x0b\x00", "field 1 with wire type 3 (group start, not used by proto3/proto2 models here)")
    put("spm-empty-piece.model", b"\x0a\x00", "one SentencePiece message with no piece text")

    with open(os.path.join(out, "tiktoken", "tokenizer.model"), "rb") as f:
        tik = f.read().split(b"\n")
    bad = list(tik)
    bad[300] = b"@@notbase64@@ 300"
    put("tiktoken-bad-base64.model", b"\n".join(bad), "line 301 holds '@@notbase64@@' instead of base64")
    bad = list(tik)
    bad[10] = bad[10].split(b" ")[0] + b" 12"
    put("tiktoken-rank-gap.model", b"\n".join(bad), "line 11 has rank 12 (ranks must run 0, 1, 2, ... in file order)")
    bad = list(tik)
    bad[20] = bad[20].split(b" ")[0]
    put("tiktoken-missing-rank.model", b"\n".join(bad), "line 21 has no rank")

    with open(os.path.join(out, "bpe", "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    tj["model"]["merges"][5] = ["Ġnotatoken", "zzzz"]
    put("tokenizer-unknown-merge.json", json.dumps(tj, ensure_ascii=False).encode("utf-8"),
        "merge 5 is ['Ġnotatoken', 'zzzz'], tokens not in model.vocab")
    with open(os.path.join(out, "bpe", "tokenizer.json"), "rb") as f:
        raw = f.read()
    put("tokenizer-truncated.json", raw[: len(raw) // 2], "the first half of bpe/tokenizer.json (invalid JSON)")
    with open(os.path.join(out, "bpe", "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    tj["model"]["vocab"]["Ġthe"] = 999999
    put("tokenizer-id-out-of-range.json", json.dumps(tj, ensure_ascii=False).encode("utf-8"),
        "model.vocab maps 'Ġthe' to id 999999")
    with open(os.path.join(folder, "README.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(readme) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="fixtures/tokenizers")
    args = ap.parse_args()
    if os.path.isdir(args.out):
        shutil.rmtree(args.out)
    os.makedirs(args.out)
    spm_data = make_spm(args.out)
    tok = make_bpe(args.out)
    make_tiktoken(args.out, tok)
    make_bad(args.out, spm_data)
    manifest = {"libraries": {"gguf": importlib.metadata.version("gguf"), "sentencepiece": spm.__version__, "tokenizers": tokenizers.__version__,
                              "tiktoken": tiktoken.__version__, "transformers": transformers.__version__},
                "files": {}}
    for root, _, files in sorted(os.walk(args.out)):
        for name in sorted(files):
            p = os.path.join(root, name)
            with open(p, "rb") as f:
                data = f.read()
            manifest["files"][os.path.relpath(p, args.out)] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    write_json(os.path.join(args.out, "MANIFEST.json"), manifest)


if __name__ == "__main__":
    main()
