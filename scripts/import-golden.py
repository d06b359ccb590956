#!/usr/bin/env python3
"""Copy the ggml oracle vectors the tests need from ../shared/golden/quant into testdata/golden.

Inputs (.f32, .imat.f32, .act.f32) are identical in every type folder (checked here) and are
stored once under testdata/golden/inputs/. Per type we keep the quantized and dequantized outputs
and a compact cases.json with the fields tests use. Re-run after the golden folder changes.
"""
import filecmp, json, os, shutil, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
src = os.path.join(root, "..", "shared", "golden", "quant")
dst = os.path.join(root, "testdata", "golden")
index = json.load(open(os.path.join(src, "index.json")))
os.makedirs(os.path.join(dst, "inputs"), exist_ok=True)
first_dir = {}
summary = []
for t in index["types"]:
    tdir = os.path.join(src, t["dir"])
    m = json.load(open(os.path.join(tdir, "manifest.json")))
    out = os.path.join(dst, t["dir"])
    os.makedirs(out, exist_ok=True)
    cases = []
    for c in m["cases"]:
        f = c["files"]
        for key in ("input", "imatrix", "act"):
            if key in f:
                name = f[key]
                p = os.path.join(tdir, name)
                q = os.path.join(dst, "inputs", name)
                if name in first_dir:
                    if not filecmp.cmp(p, q, shallow=False):
                        sys.exit(f"input {name} differs between {first_dir[name]} and {t['dir']}")
                else:
                    shutil.copyfile(p, q)
                    first_dir[name] = t["dir"]
        keep = {}
        for key in ("ref", "deq", "chunk", "chunk_deq", "imat_q", "act_q", "act_ref_q"):
            if key in f:
                if key == "chunk" and c.get("chunk_equals_ref"):
                    continue
                shutil.copyfile(os.path.join(tdir, f[key]), os.path.join(out, f[key]))
                keep[key] = f[key]
        for key in ("input", "imatrix", "act"):
            if key in f:
                keep[key] = "../inputs/" + f[key]
        case = {"name": c["name"], "n": c["n"], "files": keep}
        for key in ("ref_unspecified_bytes", "deq_unspecified_zero_sign", "act_q_equals_ref", "chunk_equals_ref"):
            if key in c:
                case[key] = c[key]
        d = c.get("dot")
        if d:
            case["dot"] = {k: d[k] for k in ("vec_dot", "vec_dot_bits", "vec_dot_generic", "vec_dot_generic_bits",
                                             "f64_dequant", "f64_abs_sum") if k in d}
        cases.append(case)
    meta = {k: m[k] for k in ("type", "ggml_type_id", "block_values", "block_bytes", "bits_per_weight",
                              "vec_dot_type", "has_chunk", "uses_imatrix")}
    meta["cases"] = cases
    json.dump(meta, open(os.path.join(out, "cases.json"), "w"), indent=1)
    summary.append(t["dir"])
open(os.path.join(dst, "README.md"), "w").write(
    "# ggml oracle vectors (copied)\n\n"
    "A subset of `../shared/golden/quant/` (ggml commit d99724f2, see that folder's README for how\n"
    "every file was produced), copied by `scripts/import-golden.py` so the tests run without\n"
    "`../shared`. Inputs are stored once in `inputs/`; each type folder has the quantized bytes\n"
    "(`.ref.q`, `.chunk.q` where it differs from `.ref.q`, `.imat.q`), dequantized values\n"
    "(`.deq.f32`, `.chunk.deq.f32`), activation bytes (`.act.q`, `.act.ref.q`) and `cases.json`\n"
    "(file names, iq4_nl's unspecified byte ranges, and ggml's dot-product results as f32 bit\n"
    "patterns plus `f64_abs_sum` for the tolerance).\n")
print("types:", " ".join(summary))
