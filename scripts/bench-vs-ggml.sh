#!/usr/bin/env bash
# quant's kernels beside ggml's, in one run on this machine.
#
#   scripts/bench-vs-ggml.sh /path/to/llama.cpp [rounds] [--quick]
#
# Builds scripts/ggml-peer/ggml_bench.c against the static ggml libraries of a llama.cpp build
# (see scripts/check-llama-quantize.sh for how to get and build llama.cpp 0c1e570; this needs
# `ninja -C build ggml-cpu`), then alternates `ggml_bench` and `quant bench --json` for `rounds`
# rounds (default 5; the order flips every round) and prints a Markdown table of the medians over
# rounds: dot ns per 4096-value row, activation quantization and dequantization in values/ns, and
# matrix × vector out of cache in GB/s of weight bytes beside the streaming-read bandwidth.
# Both sides time the same way (median of 11 calibrated batches, or of 5 out-of-cache passes).
# Raw JSON of every round is kept in $QUANT_PEER_OUT (default: target/bench-vs-ggml).
set -euo pipefail
llama="$(cd "$1" && pwd)"; shift
rounds=5
quick=()
for a in "$@"; do
    case "$a" in
        --quick) quick=(--quick) ;;
        *) rounds="$a" ;;
    esac
done
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${QUANT_PEER_OUT:-$root/target/bench-vs-ggml}"
mkdir -p "$out"
lib="$llama/build/ggml/src"
if [ ! -f "$lib/libggml-cpu.a" ] || [ ! -f "$lib/libggml-base.a" ]; then
    ninja -C "$llama/build" ggml-cpu ggml-base
fi
cc -O3 -march=native -I"$llama/ggml/include" "$root/scripts/ggml-peer/ggml_bench.c" \
    -o "$out/ggml_bench" "$lib/libggml-cpu.a" "$lib/libggml-base.a" -lstdc++ -lm -lpthread -fopenmp
cargo build --release -q -p quant-cli --manifest-path "$root/Cargo.toml"
quant="$root/target/release/quant"
backend="${QUANT_PEER_BACKEND:-$("$quant" bench --quick --formats q8_0 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["backends"][0])')}"
for r in $(seq 1 "$rounds"); do
    if [ $((r % 2)) -eq 1 ]; then
        "$out/ggml_bench" "${quick[@]}" > "$out/ggml-$r.jsonl"
        "$quant" bench "${quick[@]}" --backend "$backend" --json > "$out/quant-$r.json"
    else
        "$quant" bench "${quick[@]}" --backend "$backend" --json > "$out/quant-$r.json"
        "$out/ggml_bench" "${quick[@]}" > "$out/ggml-$r.jsonl"
    fi
    echo "round $r/$rounds done" >&2
done
python3 - "$out" "$rounds" "$backend" <<'PY'
import json, statistics, sys
out, rounds, backend = sys.argv[1], int(sys.argv[2]), sys.argv[3]
med = statistics.median
g, q = {}, {}
gm, qm, stream = {}, {}, {1: [], 2: []}
for r in range(1, rounds + 1):
    for line in open(f"{out}/ggml-{r}.jsonl"):
        o = json.loads(line)
        if "matvec" in o:
            gm.setdefault((o["matvec"], o["threads"]), []).append(o["gb_per_s"])
        else:
            for k, v in o.items():
                if isinstance(v, float):
                    g.setdefault((o["format"], k), []).append(v)
    rep = json.load(open(f"{out}/quant-{r}.json"))
    for o in rep["kernels"]:
        for k, v in o.items():
            if isinstance(v, float):
                q.setdefault((o["format"], k), []).append(v)
    for o in rep["matvec"]:
        qm.setdefault((o["format"], o["threads"]), []).append(o["gb_per_s"])
    stream[1].append(rep["stream"]["gb_per_s_1_thread"])
    stream[rep["stream"]["threads"]].append(rep["stream"]["gb_per_s_all_threads"])
cpu = rep["cpu"]
print(f"quant ({backend}) vs ggml on {cpu}: medians over {rounds} alternating rounds\n")
print("| weight × activation | quant ns/row | ggml ns/row | ggml / quant |")
print("|---|---|---|---|")
formats = [o["format"] for o in rep["kernels"]]
for f in formats:
    a, b = q.get((f, "dot_ns_per_row")), g.get((f, "dot_ns_per_row"))
    if not a:
        continue
    act = next(o["activation"] for o in rep["kernels"] if o["format"] == f)
    name = f"{f} × {act}" if act else f
    if b:
        print(f"| {name} | {med(a):.0f} | {med(b):.0f} | {med(b) / med(a):.2f}× |")
    else:
        print(f"| {name} | {med(a):.0f} | — | |")
print("\n| format | quant quantize v/ns | ggml quantize v/ns | ratio | quant dequantize v/ns | ggml dequantize v/ns | ratio |")
print("|---|---|---|---|---|---|---|")
for f in formats:
    cells = []
    for k in ("quantize_values_per_ns", "dequantize_values_per_ns"):
        a, b = q.get((f, k)), g.get((f, k))
        if a and b:
            cells += [f"{med(a):.2f}", f"{med(b):.2f}", f"{med(a) / med(b):.2f}×"]
        elif a:
            cells += [f"{med(a):.2f}", "—", ""]
        else:
            cells += ["", "", ""]
    if any(cells):
        print(f"| {f} | " + " | ".join(cells) + " |")
s1, s2 = med(stream[1]), med(stream[2])
print(f"\nStreaming read (sum of u64 over {rep['stream']['bytes'] >> 20} MiB): {s1:.1f} GB/s on 1 thread, {s2:.1f} GB/s on 2 threads.\n")
print("| matvec 4096k×14336 | threads | quant GB/s | % of stream | ggml vec_dot GB/s | % of stream |")
print("|---|---|---|---|---|---|")
for (f, t), a in sorted(qm.items()):
    s = s1 if t == 1 else s2
    b = gm.get((f, t))
    bcell = f"{med(b):.1f} | {100 * med(b) / s:.0f} %" if b else "— |"
    print(f"| {f} | {t} | {med(a):.1f} | {100 * med(a) / s:.0f} % | {bcell} |")
PY
