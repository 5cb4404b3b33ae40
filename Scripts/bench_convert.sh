#!/usr/bin/env bash
# Conversion benchmark of issues 4 and 5: llama-convert against llama.cpp's own tools on one
# BF16 Hugging Face model (853M parameters, 1.7 GB in two shards), in one run.
#
# For each preset f16, q8_0, q4_0, q4 (Q4_K_M mix): our release binary (`--no-verify`: the
# conversion alone; round 1 also times the default command with its built-in check, "PRESET+check")
# under /usr/bin/time -v
# (wall seconds, input MB/s = shard bytes / wall, peak RSS), N times, next to `cat shards` and
# `cp shards` baselines measured in the same run; then the peer, interleaved with ours (ours, peer,
# ours, peer...) so load drifts hit both:
#   f16, q8_0  convert_hf_to_gguf.py --outtype f16 / q8_0 (one step each)
#   q4_0       convert_hf_to_gguf.py --outtype f16 + llama_model_quantize Q4_0 (two steps)
#   q4         convert_hf_to_gguf.py --outtype f16 + llama_model_quantize Q4_K_M (two steps)
# Prints a table (best / median wall, MB/s of the best, peak RSS, CPU seconds = user + sys, which
# a loaded machine disturbs less than wall time; peer/ours ratios) and writes
# the results as JSON to $OUT_JSON.
#
#   swift build -c release && Scripts/bench_convert.sh
#
# Environment (defaults): N=3 runs of ours, PEER_N=$N runs of the peer, BENCH_DIR=bench/llama-853m,
# OUT_DIR=bench/out, OUT_JSON=bench/results-convert.json, BIN=.build/release/llama-convert,
# PY=/work/venv/bin/python (torch, for the generator and convert_hf_to_gguf.py),
# PEER_LLAMA=/work/llama-sdist/llama_cpp_python-0.3.36/vendor/llama.cpp, PEER_PY=/work/venv-llama/bin/python
# (llama-cpp-python, for the quantize step), PEER=0 to skip the peer, PRESETS="f16 q8_0 q4_0 q4".
set -euo pipefail

cd "$(dirname "$0")/.."
N=${N:-3}
PEER_N=${PEER_N:-$N}
BENCH_DIR=${BENCH_DIR:-bench/llama-853m}
OUT_DIR=${OUT_DIR:-bench/out}
OUT_JSON=${OUT_JSON:-bench/results-convert.json}
BIN=${BIN:-.build/release/llama-convert}
PY=${PY:-/work/venv/bin/python}
PEER_LLAMA=${PEER_LLAMA:-/work/llama-sdist/llama_cpp_python-0.3.36/vendor/llama.cpp}
PEER_PY=${PEER_PY:-/work/venv-llama/bin/python}
PEER=${PEER:-1}
PRESETS=${PRESETS:-"f16 q8_0 q4_0 q4"}

[ -x "$BIN" ] || { echo "bench_convert: $BIN missing; run swift build -c release first" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench_convert: /usr/bin/time (GNU time) is needed for peak RSS" >&2; exit 1; }

if [ ! -f "$BENCH_DIR/model.safetensors.index.json" ]; then
    echo "== generating the benchmark model into $BENCH_DIR"
    "$PY" Scripts/make_bench_model.py --out "$BENCH_DIR" --tokenizer-model fixtures/tokenizers/spm/tokenizer.model
fi
SHARDS=("$BENCH_DIR"/*.safetensors)
SHARD_BYTES=$(stat -c %s "${SHARDS[@]}" | awk '{s += $1} END {print s}')

peer_ok=0
if [ "$PEER" = 1 ] && [ -f "$PEER_LLAMA/convert_hf_to_gguf.py" ] && [ -x "$PEER_PY" ] && [ -x "$PY" ]; then
    peer_ok=1
elif [ "$PEER" = 1 ]; then
    echo "== peer not available (need $PEER_LLAMA/convert_hf_to_gguf.py, $PY and $PEER_PY): ours only"
fi

mkdir -p "$OUT_DIR"
RAW=$(mktemp)
TIMELOG=$(mktemp)
trap 'rm -f "$RAW" "$TIMELOG"' EXIT

# measure TOOL TASK RUN CMD...: one run under /usr/bin/time -v; appends "tool task run wall rss_kib cpu".
measure() {
    local tool=$1 task=$2 run=$3
    shift 3
    if ! /usr/bin/time -v -o "$TIMELOG" "$@" > "$OUT_DIR/last.log" 2>&1; then
        echo "bench_convert: $tool $task failed:" >&2
        tail -20 "$OUT_DIR/last.log" >&2
        exit 1
    fi
    local wall rss cpu
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$TIMELOG")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$TIMELOG")
    cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$TIMELOG")
    echo "$tool $task $run $wall $rss $cpu" >> "$RAW"
    printf '  %-6s %-16s run %d: %8.2f s wall %8.2f s cpu %7.1f MiB  (load %s)\n' "$tool" "$task" "$run" "$wall" "$cpu" \
        "$(echo "$rss / 1024" | bc -l)" "$(cut -d' ' -f1 /proc/loadavg)"
}

# Deleting a 1.7 GB file on a file system mounted with `discard` queues TRIMs that the next
# journal commit (our fsync) would wait for: outputs are removed, and the disk left to settle,
# between timed runs, for ours and the peer's alike.
settle() { sync; sleep 2; }

# The peer's converter, as a command line (/usr/bin/time runs programs, not shell functions).
PEER_CONVERT=(env PYTHONPATH="$PEER_LLAMA/gguf-py" "$PY" "$PEER_LLAMA/convert_hf_to_gguf.py" "$BENCH_DIR")

echo "== $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== model $BENCH_DIR: ${#SHARDS[@]} shards, $SHARD_BYTES bytes; ours N=$N, peer N=$PEER_N (peer available: $peer_ok)"
cat "${SHARDS[@]}" > /dev/null  # warm the page cache, so every run reads from memory alike

for run in $(seq 1 "$N"); do
    echo "== round $run, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    measure cat read "$run" sh -c 'cat "$@" > /dev/null' sh "${SHARDS[@]}"
    measure cp copy "$run" cp "${SHARDS[@]}" "$OUT_DIR/"
    rm -f "$OUT_DIR"/*.safetensors
    peer_round=0
    if [ "$peer_ok" = 1 ] && [ "$run" -le "$PEER_N" ]; then peer_round=1; fi
    for preset in $PRESETS; do
        settle
        measure ours "$preset" "$run" "$BIN" "$BENCH_DIR" "$OUT_DIR/ours-$preset.gguf" --quant "$preset" --quiet --no-verify
        rm -f "$OUT_DIR/ours-$preset.gguf"
        if [ "$run" = 1 ]; then
            # The same conversion with its built-in parity check (the default command), once.
            settle
            measure ours "$preset+check" "$run" "$BIN" "$BENCH_DIR" "$OUT_DIR/ours-$preset.gguf" --quant "$preset" --quiet
            rm -f "$OUT_DIR/ours-$preset.gguf"
        fi
        settle
        if [ "$peer_round" = 1 ]; then
            case $preset in
                f16)  measure peer convert-f16 "$run" "${PEER_CONVERT[@]}" --outtype f16 --outfile "$OUT_DIR/peer-f16.gguf" ;;
                q8_0) measure peer convert-q8_0 "$run" "${PEER_CONVERT[@]}" --outtype q8_0 --outfile "$OUT_DIR/peer-q8_0.gguf"
                      rm -f "$OUT_DIR/peer-q8_0.gguf"; settle ;;
                q4_0|q4)
                    [ -f "$OUT_DIR/peer-f16.gguf" ] || measure peer convert-f16 "$run" "${PEER_CONVERT[@]}" --outtype f16 --outfile "$OUT_DIR/peer-f16.gguf"
                    ft=q4_0; [ "$preset" = q4 ] && ft=q4_k_m
                    measure peer "quantize-$ft" "$run" "$PEER_PY" Scripts/peer_quantize.py \
                        "$OUT_DIR/peer-f16.gguf" "$OUT_DIR/peer-$ft.gguf" "$ft" --threads "$(nproc)"
                    rm -f "$OUT_DIR/peer-$ft.gguf"; settle ;;
            esac
        fi
    done
    rm -f "$OUT_DIR/peer-f16.gguf"
done
echo "== done, load average $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$RAW" "$SHARD_BYTES" "$OUT_JSON" "$BENCH_DIR" "$N" "$PEER_N" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PYEOF'
import json, statistics, sys, time
raw, shard_bytes, out_json, model, n, peer_n, load = sys.argv[1:8]
shard_bytes = int(shard_bytes)
runs = {}
for line in open(raw):
    tool, task, run, wall, rss, cpu = line.split()
    runs.setdefault((tool, task), {})[int(run)] = (float(wall), int(rss), float(cpu))

def row(tool, task, per_run):
    walls = [w for w, _, _ in per_run.values()]
    cpus = [c for _, _, c in per_run.values()]
    best = min(walls)
    return {"tool": tool, "task": task, "runs": len(walls), "wall_s": walls,
            "best_s": best, "median_s": statistics.median(walls),
            "input_mb_per_s": shard_bytes / 1e6 / best,
            "peak_rss_mib": max(r for _, r, _ in per_run.values()) / 1024,
            "cpu_s": cpus, "cpu_best_s": min(cpus)}

rows = [row(t, k, v) for (t, k), v in runs.items()]
# The peer's two-step pipelines: convert f16 + quantize of the same round, summed per round.
f16 = runs.get(("peer", "convert-f16"), {})
for preset, step in (("q4_0", "quantize-q4_0"), ("q4", "quantize-q4_k_m")):
    q = runs.get(("peer", step), {})
    both = {r: (f16[r][0] + q[r][0], max(f16[r][1], q[r][1]), f16[r][2] + q[r][2]) for r in q if r in f16}
    if both:
        rows.append(row("peer", f"convert-f16+{step}", both))
        runs[("peer", f"convert-f16+{step}")] = both
peer_runs = {task: per for (tool, task), per in runs.items() if tool == "peer"}

by = {(r["tool"], r["task"]): r for r in rows}
print()
print(f"{'tool':<6} {'task':<30} {'wall s best':>11} {'median':>8} {'MB/s':>8} {'peak RSS MiB':>13} {'cpu s best':>11}")
for r in rows:
    print(f"{r['tool']:<6} {r['task']:<30} {r['best_s']:>11.2f} {r['median_s']:>8.2f} "
          f"{r['input_mb_per_s']:>8.1f} {r['peak_rss_mib']:>13.1f} {r['cpu_best_s']:>11.2f}")

pairs = {"f16": "convert-f16", "q8_0": "convert-q8_0", "q4_0": "convert-f16+quantize-q4_0",
         "q4": "convert-f16+quantize-q4_k_m"}
targets = {"f16": 5, "q8_0": 5, "q4_0": 5, "q4": 3}
ratios = {}
print()
print(f"{'preset':<6} {'peer task':<30} {'peer/ours best':>14} {'median':>8} {'same round':>11} {'cpu s':>7} {'target':>7}")
for preset, task in pairs.items():
    ours, peer = by.get(("ours", preset)), by.get(("peer", task))
    if not ours or not peer:
        continue
    rb, rm = peer["best_s"] / ours["best_s"], peer["median_s"] / ours["median_s"]
    rc = peer["cpu_best_s"] / ours["cpu_best_s"]
    # Same rounds only (the interleaved pairs, under the same load): matters when PEER_N < N.
    o, pr = runs[("ours", preset)], peer_runs[task]
    same = [r for r in pr if r in o]
    rs = statistics.median(pr[r][0] / o[r][0] for r in same) if same else float("nan")
    ratios[preset] = {"peer_task": task, "best": rb, "median": rm, "cpu": rc, "same_rounds": rs,
                      "target": targets[preset], "met": rb >= targets[preset]}
    print(f"{preset:<6} {task:<30} {rb:>13.2f}x {rm:>7.2f}x {rs:>10.2f}x {rc:>6.2f}x {targets[preset]:>6}x")

result = {"date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "model": model,
          "shard_bytes": shard_bytes, "n_ours": int(n), "n_peer": int(peer_n),
          "load_average_end": load, "rows": rows, "ratios": ratios}
with open(out_json, "w") as f:
    json.dump(result, f, indent=2)
print(f"\nwritten {out_json}")
PYEOF
