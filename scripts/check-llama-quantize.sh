#!/usr/bin/env bash
# Byte-identity of `quant quantize` with `llama-quantize --pure`, tensor by tensor, on SmolLM2.
#
#   scripts/check-llama-quantize.sh /path/to/llama.cpp/build/bin [types...]
#
# llama.cpp: the copy vendored in the PyPI sdist llama-cpp-python==0.3.36 (llama.cpp 0c1e570):
#   curl -LO https://files.pythonhosted.org/packages/ec/e9/e7de2b0463ea3ffbf0ede6cb21b58c1258a8f6521aae45ca773a59fe7cf3/llama_cpp_python-0.3.36.tar.gz
#   echo "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e  llama_cpp_python-0.3.36.tar.gz" | sha256sum -c
#   tar xzf llama_cpp_python-0.3.36.tar.gz && cd llama_cpp_python-0.3.36/vendor/llama.cpp
#   cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
#         -DBUILD_SHARED_LIBS=OFF && ninja -C build llama-quantize
# Needs gguf-py (pip install gguf==0.19.0) and data/ (scripts/fetch-data.sh smollm2).
set -euo pipefail
bin="$1"; shift
types=("$@")
[ ${#types[@]} -gt 0 ] || types=(Q4_0:q4_0 Q4_1:q4_1 Q5_0:q5_0 Q5_1:q5_1 Q8_0:q8_0 Q2_K:q2_K Q3_K_S:q3_K Q4_K_S:q4_K Q5_K_S:q5_K Q6_K:q6_K IQ4_NL:iq4_nl IQ4_XS:iq4_xs)
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cargo build --release -q -p quant-cli --manifest-path "$root/Cargo.toml"
quant="$root/target/release/quant"
"$bin/llama-quantize" --allow-requantize "$root/data/smollm2-135m-instruct-q4_1.gguf" "$work/f32.gguf" F32 >/dev/null 2>&1
status=0
for t in "${types[@]}"; do
    L=${t%%:*}; O=${t##*:}
    "$bin/llama-quantize" --allow-requantize --pure "$work/f32.gguf" "$work/l.gguf" "$L" >/dev/null 2>&1
    "$quant" quantize "$work/f32.gguf" "$work/o.gguf" --type "$O" >/dev/null
    python3 - "$work/l.gguf" "$work/o.gguf" "$O" <<'PY' || status=1
import sys
from gguf import GGUFReader
a, b = GGUFReader(sys.argv[1]), GGUFReader(sys.argv[2])
tb = {t.name: t for t in b.tensors}
bad = [t.name for t in a.tensors if t.name not in tb or t.tensor_type != tb[t.name].tensor_type
       or t.data.tobytes() != tb[t.name].data.tobytes()]
print(f"{sys.argv[3]:7} {len(a.tensors) - len(bad)}/{len(a.tensors)} tensors byte-identical", bad[:3])
sys.exit(1 if bad else 0)
PY
done
exit $status
