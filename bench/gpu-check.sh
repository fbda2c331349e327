#!/usr/bin/env bash
# The GPU check: run first on any machine with a CUDA GPU, in one go (about 5 minutes; under 8).
#   1. builds; 2. runs the CUDA test suite (every kernel and 20 training steps against the CPU kernel sets);
#   3. times `gpulstm bench --device cuda` at seed, small, medium and large, with cuBLAS and with GpuLstm's own
#      GEMM kernels; 4. prints one table: measured ms/step beside the paper model's prediction for this GPU.
# Put the table in bench/README.md and fix what it shows. Exit status: the tests' (the benches are reported).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-$(mktemp -d)}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
echo "== build" >&2
dotnet build GpuLstm.sln -c Release -v q -nologo 2>&1 | tail -3
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | tee "$out/gpu.txt"
G=(dotnet src/Cli/bin/Release/net10.0/gpulstm.dll)
"${G[@]}" devices | tee "$out/devices.txt"

echo "== CUDA tests" >&2
timeout 240 dotnet test tests -c Release --no-build --filter "FullyQualifiedName~CudaTests|FullyQualifiedName~CuBlas" 2>&1 | tee "$out/tests.txt" | tail -5
tests=${PIPESTATUS[0]}

echo "== bench" >&2
for gemm in cublas own; do
  timeout 150 "${G[@]}" bench --device cuda --config all --gemm "$gemm" --warmup 3 --steps 20 --sample-chars 1000 \
    | tee "$out/bench-$gemm.txt" | grep -v '^RESULT' >&2
done

# The model for this GPU: H200 and H100 by name, else A100, else the H100's figures (say so).
name=$(head -n 1 "$out/gpu.txt" | tr '[:upper:]' '[:lower:]')
case "$name" in
  *h200*) gpu=h200 ;; *h100*) gpu=h100 ;; *a100*) gpu=a100 ;; *2080*) gpu=rtx2080ti ;;
  *) gpu=h100; echo "no model for '$name': the H100's figures are used" >&2 ;;
esac
dotnet build bench -c Release -v q -nologo >/dev/null 2>&1
dotnet bench/bin/Release/net10.0/GpuLstm.Bench.dll gpu-model --gpu "$gpu" > "$out/model.txt"

python3 - "$out" "$gpu" <<'PY'
import json, sys, glob, os
out, gpu = sys.argv[1], sys.argv[2]
measured, predicted = {}, {}
for gemm in ("cublas", "own"):
    for line in open(os.path.join(out, f"bench-{gemm}.txt")):
        if line.startswith("RESULT "):
            r = json.loads(line[7:]); measured[(r["label"], gemm)] = r
for line in open(os.path.join(out, "model.txt")):
    if line.startswith("RESULT "):
        r = json.loads(line[7:])
        if r.get("measured_ms") is None: predicted[(r["label"], r["gemm"])] = r
print(f"\n| config | GEMMs | measured ms/step (median) | predicted ms/step ({gpu}) | measured / predicted | launches/step | syncs/step | sample chars/s |")
print("|---|---|---|---|---|---|---|---|")
for label in ("seed", "small", "medium", "large"):
    for gemm in ("cublas", "own"):
        m, p = measured.get((label, gemm)), predicted.get((label, gemm))
        if m is None: print(f"| {label} | {gemm} | (no result) | {p['predicted_ms'] if p else ''} | | | | |"); continue
        ratio = m["step_ms_median"] / p["predicted_ms"] if p else float("nan")
        print(f"| {label} | {gemm} | {m['step_ms_median']:.2f} | {p['predicted_ms'] if p else '?'} | {ratio:.2f} | {m['launches_per_step']:.0f} | {m['syncs_per_step']:.0f} | {m['sample_chars_per_s']:.0f} |")
PY
echo "outputs in $out" >&2
exit "$tests"
