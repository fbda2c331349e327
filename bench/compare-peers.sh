#!/usr/bin/env bash
# GpuLstm against the TorchSharp peer (libtorch + oneDNN), side by side in one run, one process per
# measurement, alternating the two so that machine noise hits both alike.
#
#   bash bench/compare-peers.sh                # cpu device, the four char configurations, word level + the notebook run
#   DEVICE=ilgpu-cpu CONFIGS="seed" bash bench/compare-peers.sh
#
# Needs ../shared/peers/torchsharp (or SHARED=/path/to/shared) and python3 for the table. The peer is an
# optional dependency of this script only: nothing else in the repository builds or runs it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
shared=${SHARED:-$(dirname "$repo")/shared}
peer_dir=$shared/peers/torchsharp
device=${DEVICE:-cpu}
configs=${CONFIGS:-"seed small medium large word"}
out=${OUT_DIR:-$(mktemp -d)}

[ -d "$peer_dir" ] || { echo "no TorchSharp peer at $peer_dir (set SHARED)" >&2; exit 2; }
echo "building gpulstm and the peer..." >&2
dotnet build "$repo/src/Cli" -c Release -v q -nologo >/dev/null
(cd "$peer_dir" && dotnet build -c Release -v q -nologo >/dev/null)
G=(dotnet "$repo/src/Cli/bin/Release/net10.0/gpulstm.dll")
P=(dotnet "$peer_dir/bin/Release/net10.0/CharLstmBench.dll")

declare -A shape=( [seed]="27 128 1 50 16" [small]="65 256 2 100 32" [medium]="65 512 2 100 64" [large]="65 1024 1 128 64" [word]="10000 256 2 50 32" )
declare -A budget=( [seed]="5 50" [small]="3 20" [medium]="2 10" [large]="2 10" [word]="2 10" )
# Word level: both read a 256-wide embedding (GpuLstm's word config has --E 256 built in).
declare -A peer_input=( [word]="--input embed --embed 256" )

: > "$out/results.jsonl"
for name in $configs; do
  read -r V H L T B <<< "${shape[$name]}"
  read -r warm steps <<< "${budget[$name]}"
  echo "== $name (V$V H$H L$L T$T B$B)" >&2
  "${G[@]}" bench --config "$name" --device "$device" --warmup "$warm" --steps "$steps" | tee "$out/$name.gpulstm.log" >&2
  # shellcheck disable=SC2086
  "${P[@]}" --V "$V" --H "$H" --L "$L" --T "$T" --B "$B" ${peer_input[$name]:-} --warmup "$warm" --steps "$steps" --label "$name" | tee "$out/$name.peer.log" >&2
  grep -h '^RESULT ' "$out/$name.gpulstm.log" "$out/$name.peer.log" | sed 's/^RESULT //' >> "$out/results.jsonl"
done

# The whole notebook run, timed from outside: 50 epochs on the poem, then 3 x 200 chars of window sampling.
notebook() {
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$out/$label.time" "$@" > "$out/$label.log" 2>&1
  read -r wall rss < "$out/$label.time"
  echo "{\"impl\":\"$label\",\"label\":\"notebook\",\"wall_s\":$wall,\"vmhwm_kb\":$rss}" >> "$out/results.jsonl"
}
if [ -x /usr/bin/time ]; then
  echo "== notebook run (whole process)" >&2
  notebook gpulstm "${G[@]}" train --device "$device" --checkpoint "$out/notebook.safetensors"
  notebook torchsharp "${P[@]}" --V 27 --H 128 --L 1 --T 50 --B 16 --target last --windows 129 --window-step 1 --epochs 50 \
    --text "$shared/data/road-not-taken-5.txt" --sample-chars 200 --sample-reps 3 --sample-mode window --warmup 0 --lr 1e-3 --seed 42
  grep -h '^trained' "$out/gpulstm.log" >&2 || true
fi

python3 "$here/ratio_table.py" "$out/results.jsonl"
echo "raw results: $out" >&2
