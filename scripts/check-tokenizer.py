#!/usr/bin/env python3
"""Independent oracle for quant-eval's tokenizer, and the generator of its test fixtures.

Builds SmolLM2's tokenizer from the GGUF metadata with Hugging Face `tokenizers` (pip install
tokenizers): BPE(vocab, merges) behind the pre-tokenizer llama.cpp uses for `pre = "smollm"`,
Sequence([Digits(individual_digits=True), ByteLevel(add_prefix_space=False, use_regex=True)]),
and a ByteLevel decoder. It first checks that this reproduces llama.cpp's own ids
(crates/quant-eval/tests/data/llama_cpp_f32_ctx32.json: the first 224 ids and the 10843-token
count of 2021_joseph_r_biden_d.txt), then writes crates/quant-eval/tests/data/smollm2_tokens.json:
for each SOTU text its FNV-1a-64 (of the text bytes) and length, the token count, the first 32
ids, and FNV-1a-64 hashes of every chunk of 1000 ids (ids as little-endian u32), which keeps the
fixture small but pins every id; and a synthetic stress text stored verbatim with all its ids.

    scripts/fetch-data.sh smollm2 sotu && python3 scripts/check-tokenizer.py [--write]

With llama.cpp's llama-tokenize on PATH (or LLAMA_TOKENIZE=/path), every id list is also compared
with it, and the stress text's ids with special tokens parsed (`stress.ids_parse_special`, which HF
cannot make here) are taken from it; without it, that entry is kept from the existing fixture.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

from tokenizers import Tokenizer, decoders, models, pre_tokenizers

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DATA = os.path.join(ROOT, "data")
MODEL = os.path.join(DATA, "smollm2-135m-instruct-q4_1.gguf")
FIXTURES = os.path.join(ROOT, "crates", "quant-eval", "tests", "data")
TEXTS = [
    "1790_george_washington_n.txt",
    "1848_james_polk_d.txt",
    "1861_abraham_lincoln_r.txt",
    "1946_harry_s_truman_d.txt",
    "2015_barack_obama_d.txt",
    "2020_donald_j_trump_r.txt",
]
STRESS = (
    "Digits 1234567890 and 3.14159, 1,000,000 and ٣٤ and ½ Ⅻ.\n"
    "Accents: café naïve Ångström Straße Øresund; Greek αβγ ΔΣΩ; Cyrillic Привет мир.\n"
    "CJK: 東京タワー 中文字符 한국어; emoji 🙂👍🏽 🇫🇷 and ZWJ 👩‍💻.\n"
    "Spaces:  two   three    four\ttab\t\ttabs \t mixed\r\nCRLF\n\n\nblank lines   \n"
    "Apostrophes: it's IT'S we're they've I'm you'll he'd 'quoted' it’s rock'n'roll ''s\n"
    "Punctuation runs: ...!!! ?!?! --- ((x)) [[y]] {{z}} <|endoftext|> <|im_start|> @#$%^&*\n"
    "Mixed: abc123def 42nd 2nd-hand x²+y³ €100 $5.99 50% A/B C++ e.g. U.S.A.\n"
    "Controls: \x00\x01\x7f and NBSP\u00a0here, thin\u2009space, ideographic\u3000space.\n"
    "   leading spaces and trailing spaces   "
)


def read_gguf_metadata(path):
    types = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
    with open(path, "rb") as f:
        def read(fmt):
            n = struct.calcsize("<" + fmt)
            return struct.unpack("<" + fmt, f.read(n))[0]

        def string():
            return f.read(read("Q")).decode("utf-8")

        def value(t):
            if t == 8:
                return string()
            if t == 9:
                et = read("I")
                return [value(et) for _ in range(read("Q"))]
            return read(types[t])

        assert f.read(4) == b"GGUF"
        read("I")
        read("Q")
        n_kv = read("Q")
        md = {}
        for _ in range(n_kv):
            key = string()
            md[key] = value(read("I"))
        return md


def build_tokenizer(md):
    assert md["tokenizer.ggml.model"] == "gpt2" and md["tokenizer.ggml.pre"] == "smollm"
    vocab = {t: i for i, t in enumerate(md["tokenizer.ggml.tokens"])}
    merges = [tuple(m.split(" ", 1)) for m in md["tokenizer.ggml.merges"]]
    tok = Tokenizer(models.BPE(vocab, merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    return tok


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def ids_hash(ids):
    return fnv1a64(struct.pack("<%dI" % len(ids), *ids))


def llama_tokenize(text, parse_special=False):
    exe = os.environ.get("LLAMA_TOKENIZE") or shutil.which("llama-tokenize")
    if not exe:
        return None
    with tempfile.NamedTemporaryFile("wb", suffix=".txt", delete=False) as f:
        f.write(text.encode("utf-8"))
    args = [exe, "-m", MODEL, "-f", f.name, "--ids", "--no-bos", "--log-disable"]
    if not parse_special:
        args.append("--no-parse-special")
    try:
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(f.name)
    return json.loads(out.strip().splitlines()[-1])


def main():
    tok = build_tokenizer(read_gguf_metadata(MODEL))
    checked_by_llama = []

    def encode(text):
        ids = tok.encode(text, add_special_tokens=False).ids
        assert tok.decode(ids, skip_special_tokens=False) == text, "round trip"
        ref = llama_tokenize(text)
        if ref is not None:
            assert ref == ids, "llama-tokenize disagrees"
            checked_by_llama.append(True)
        return ids

    with open(os.path.join(FIXTURES, "llama_cpp_f32_ctx32.json")) as f:
        golden = json.load(f)
    with open(os.path.join(DATA, "sotu", "2021_joseph_r_biden_d.txt"), encoding="utf-8") as f:
        ids = encode(f.read())
    assert ids[: len(golden["tokens"])] == golden["tokens"], "first ids differ from llama.cpp"
    assert len(ids) == golden["text_token_count"], (len(ids), golden["text_token_count"])
    print("HF tokenizers reproduces llama.cpp: %d ids, count %d" % (len(golden["tokens"]), len(ids)))

    fixture = {
        "source": "scripts/check-tokenizer.py: HF tokenizers %s BPE + Digits(individual) + ByteLevel "
        "on the GGUF vocabulary; checked against llama.cpp's ids first" % __import__("tokenizers").__version__,
        "chunk": 1000,
        "texts": [],
    }
    for name in TEXTS:
        raw = open(os.path.join(DATA, "sotu", name), "rb").read()
        ids = encode(raw.decode("utf-8"))
        fixture["texts"].append(
            {
                "file": "sotu/" + name,
                "text_len": len(raw),
                "text_fnv1a64": "%016x" % fnv1a64(raw),
                "count": len(ids),
                "first": ids[:32],
                "chunk_fnv1a64": ["%016x" % ids_hash(ids[i : i + 1000]) for i in range(0, len(ids), 1000)],
            }
        )
        print("%s: %d bytes, %d tokens" % (name, len(raw), len(ids)))
    stress_ids = encode(STRESS)
    out = os.path.join(FIXTURES, "smollm2_tokens.json")
    special_ids = llama_tokenize(STRESS, parse_special=True)
    if special_ids is None:
        with open(out, encoding="utf-8") as f:
            special_ids = json.load(f)["stress"]["ids_parse_special"]
    fixture["stress"] = {"text": STRESS, "ids": stress_ids, "ids_parse_special": special_ids}
    print("stress: %d chars, %d tokens" % (len(STRESS), len(stress_ids)))
    if checked_by_llama:
        fixture["source"] += "; every id list confirmed by llama.cpp's llama-tokenize"
    if "--write" in sys.argv:
        with open(out, "w", encoding="utf-8") as f:
            json.dump(fixture, f, ensure_ascii=True, indent=1)
            f.write("\n")
        print("wrote", out)


if __name__ == "__main__":
    main()
