#!/usr/bin/env python3
"""Check that GGUF files written by `quant quantize` load in llama.cpp's own Python reader
(gguf-py, PyPI `gguf==0.19.0`) and that their tensor bytes equal gguf-py's quantizer where it has
one. Usage: check-gguf-py.py SOURCE.gguf OUTPUT.gguf [OUTPUT.gguf ...]"""
import sys
import numpy as np
from gguf import GGUFReader
import gguf.quants as gq

src = GGUFReader(sys.argv[1])
src_t = {t.name: t for t in src.tensors}
for path in sys.argv[2:]:
    r = GGUFReader(path)
    assert len(r.tensors) == len(src.tensors), (path, len(r.tensors))
    checked = 0
    for t in r.tensors:
        s = src_t[t.name]
        assert list(t.shape) == list(s.shape), (t.name, t.shape, s.shape)
        if t.tensor_type == s.tensor_type or ("quant.outliers." + t.name) in r.fields:
            continue  # copied, or quantized without its outliers (table in the metadata)
        x = gq.dequantize(s.data, s.tensor_type)
        try:
            q = gq.quantize(x, t.tensor_type)
        except NotImplementedError:
            continue
        a = np.asarray(q).view(np.uint8).ravel()
        b = np.asarray(t.data).view(np.uint8).ravel()
        assert np.array_equal(a, b), f"{path}: {t.name} ({t.tensor_type.name}) differs from gguf-py"
        checked += 1
    print(f"{path}: {len(r.tensors)} tensors load in gguf-py; {checked} byte-identical to gguf-py's quantizer")
