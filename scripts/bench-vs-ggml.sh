#!/usr/bin/env bash
# quant's kernels beside ggml's, in one run on this machine.
#
#   scripts/bench-vs-ggml.sh /path/to/llama.cpp [rounds] [--quick]
#
# Builds scripts/ggml-peer/ggml_bench.c against the static ggml libraries of a llama.cpp build
# (see scripts/check-llama-quantize.sh for how to get and build llama.cpp 0c1e570; this needs
# `ninja -C build ggml-cpu`), then measures both sides with the same timing method (median of 11
# calibrated batches in cache; median of 5 passes out of cache):
#
# 1. in-cache kernels (dot ns per 4096-value row, activation quantization and dequantization in
#    values/ns): for every format, `ggml_bench` and `quant bench --kernels-only` run back to back
#    (the order flips every round), `rounds` rounds (default 5). Dot products are timed at 4
#    relative placements of the two rows, median (both sides identically). Reported: each side's
#    median over rounds, and the median and range of the per-round ratios ggml/quant (each
#    ratio compares two measurements taken about a second apart: this shared machine changes
#    speed by up to 1.5x for seconds at a time, so the per-round ratio is the robust figure).
# 2. out of cache: the streaming-read bandwidth and a 4096k x 14336 matrix x vector on 1 and 2
#    threads (quant's QuantMatrix::matvec; ggml's vec_dot row loop on pthreads), alternating full
#    runs, `rounds` rounds; medians.
#
# Prints a Markdown table; the raw JSON is kept in $QUANT_PEER_OUT (default target/bench-vs-ggml).
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
rm -rf "$out"; mkdir -p "$out"
lib="$llama/build/ggml/src"
if [ ! -f "$lib/libggml-cpu.a" ] || [ ! -f "$lib/libggml-base.a" ]; then
    ninja -C "$llama/build" ggml-cpu ggml-base
fi
cc -O3 -march=native -I"$llama/ggml/include" "$root/scripts/ggml-peer/ggml_bench.c" \
    -o "$out/ggml_bench" "$lib/libggml-cpu.a" "$lib/libggml-base.a" -lstdc++ -lm -lpthread -fopenmp
cargo build --release -q -p quant-cli --manifest-path "$root/Cargo.toml"
quant="$root/target/release/quant"
backend="${QUANT_PEER_BACKEND:-$("$quant" bench --quick --kernels-only --formats q8_0 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["backends"][0])')}"
formats="${QUANT_BENCH_FORMATS:-f32,f16,bf16,q4_0,q4_1,q5_0,q5_1,q8_0,q8_1,q2_K,q3_K,q4_K,q5_K,q6_K,q8_K,iq4_nl,iq4_xs,mxfp4,nvfp4,tq1_0,tq2_0}"
for r in $(seq 1 "$rounds"); do
    for f in ${formats//,/ }; do
        g() { QUANT_BENCH_FORMATS="$f" "$out/ggml_bench" "${quick[@]}" --kernels-only >> "$out/ggml-kernels-$r.jsonl"; }
        q() { "$quant" bench "${quick[@]}" --kernels-only --backend "$backend" --formats "$f" --json \
                | python3 -c 'import json,sys; [print(json.dumps(k)) for k in json.load(sys.stdin)["kernels"]]' >> "$out/quant-kernels-$r.jsonl"; }
        if [ $((r % 2)) -eq 1 ]; then g; q; else q; g; fi
    done
    echo "kernels: round $r/$rounds done" >&2
done
for r in $(seq 1 "$rounds"); do
    g() { QUANT_BENCH_FORMATS=q4_0,q4_K,q8_0 "$out/ggml_bench" "${quick[@]}" --matvec-only > "$out/ggml-matvec-$r.jsonl"; }
    q() { "$quant" bench "${quick[@]}" --backend "$backend" --formats q4_0,q4_K,q8_0 --json > "$out/quant-matvec-$r.json"; }
    if [ $((r % 2)) -eq 1 ]; then g; q; else q; g; fi
    echo "matvec: round $r/$rounds done" >&2
done
python3 - "$out" "$rounds" "$backend" "$formats" <<'PY'
import json, statistics, sys
out, rounds, backend, formats = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].split(",")
med = statistics.median
g, q = {}, {}
act = {}
for r in range(1, rounds + 1):
    for line in open(f"{out}/ggml-kernels-{r}.jsonl"):
        o = json.loads(line)
        for k, v in o.items():
            if isinstance(v, float):
                g.setdefault((o["format"], k), []).append(v)
    for line in open(f"{out}/quant-kernels-{r}.jsonl"):
        o = json.loads(line)
        act[o["format"]] = o["activation"]
        for k, v in o.items():
            if isinstance(v, float):
                q.setdefault((o["format"], k), []).append(v)
def ratio_cell(f, k, higher_is_better):
    qa, ga = q.get((f, k)), g.get((f, k))
    if not qa or not ga:
        return None
    rs = sorted((b / a) if not higher_is_better else (a / b) for a, b in zip(qa, ga))
    return f"{med(rs):.2f}× ({rs[0]:.2f}–{rs[-1]:.2f})"
cpu = json.load(open(f"{out}/quant-matvec-1.json"))["cpu"]
print(f"quant ({backend}) vs ggml on {cpu}: medians over {rounds} interleaved rounds; ratio = median of per-round ratios (range)\n")
print("| weight × activation | quant ns/row | ggml ns/row | ggml / quant |")
print("|---|---|---|---|")
for f in formats:
    a, b = q.get((f, "dot_ns_per_row")), g.get((f, "dot_ns_per_row"))
    if not a:
        continue
    name = f"{f} × {act[f]}" if act.get(f) else f
    if b:
        print(f"| {name} | {med(a):.0f} | {med(b):.0f} | {ratio_cell(f, 'dot_ns_per_row', False)} |")
    else:
        print(f"| {name} | {med(a):.0f} | — | |")
print("\n| format | quant quantize v/ns | ggml quantize v/ns | quant / ggml | quant dequantize v/ns | ggml dequantize v/ns | quant / ggml |")
print("|---|---|---|---|---|---|---|")
for f in formats:
    cells = []
    for k in ("quantize_values_per_ns", "dequantize_values_per_ns"):
        a, b = q.get((f, k)), g.get((f, k))
        if a and b:
            cells += [f"{med(a):.2f}", f"{med(b):.2f}", ratio_cell(f, k, True)]
        elif a:
            cells += [f"{med(a):.2f}", "—", ""]
        else:
            cells += ["", "", ""]
    if any(cells):
        print(f"| {f} | " + " | ".join(cells) + " |")
gm, qm, stream = {}, {}, {1: [], 2: []}
for r in range(1, rounds + 1):
    for line in open(f"{out}/ggml-matvec-{r}.jsonl"):
        o = json.loads(line)
        gm.setdefault((o["matvec"], o["threads"]), []).append(o["gb_per_s"])
    rep = json.load(open(f"{out}/quant-matvec-{r}.json"))
    for o in rep["matvec"]:
        qm.setdefault((o["format"], o["threads"]), []).append(o["gb_per_s"])
    stream[1].append(rep["stream"]["gb_per_s_1_thread"])
    stream[2].append(rep["stream"]["gb_per_s_all_threads"])
s1, s2 = med(stream[1]), med(stream[2])
print(f"\nStreaming read (sum of u64 over {rep['stream']['bytes'] >> 20} MiB): {s1:.1f} GB/s on 1 thread, {s2:.1f} GB/s on 2 threads (medians).\n")
print("| matvec 4096k×14336 | threads | quant GB/s | % of stream | ggml vec_dot GB/s | % of stream |")
print("|---|---|---|---|---|---|")
for (f, t), a in sorted(qm.items()):
    s = s1 if t == 1 else s2
    b = gm.get((f, t))
    bcell = f"{med(b):.1f} | {100 * med(b) / s:.0f} %" if b else "— |"
    print(f"| {f} | {t} | {med(a):.1f} | {100 * med(a) / s:.0f} % | {bcell} |")
PY
