#!/usr/bin/env python3
"""Extract the embedded weight sample from the MiniLM safetensors (run scripts/fetch-data.sh minilm).

Writes crates/quant-core/data/minilm_output_dense_rows.f32: rows 96..104 (8 rows x 1536 values,
little-endian f32) of encoder.layer.0.output.dense.weight [384 x 1536] of all-MiniLM-L6-v2
(Apache-2.0). Row 99 holds the tensor's largest |w| (7.9148, column 856): a real outlier.
"""
import json, os, struct, hashlib

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
src = os.path.join(root, "data", "minilm.safetensors")
name = "encoder.layer.0.output.dense.weight"
rows = range(96, 104)
with open(src, "rb") as f:
    hlen = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(hlen))
    t = header[name]
    assert t["dtype"] == "F32" and t["shape"] == [384, 1536], t
    start, _ = t["data_offsets"]
    out = bytearray()
    for r in rows:
        f.seek(8 + hlen + start + r * 1536 * 4)
        out += f.read(1536 * 4)
dst = os.path.join(root, "crates", "quant-core", "data", "minilm_output_dense_rows.f32")
os.makedirs(os.path.dirname(dst), exist_ok=True)
open(dst, "wb").write(out)
vals = struct.unpack(f"<{len(out)//4}f", out)
amax = max(range(len(vals)), key=lambda i: abs(vals[i]))
print(dst, len(out), "bytes; sha256", hashlib.sha256(out).hexdigest(), "; max |w|", vals[amax], "at", divmod(amax, 1536))
