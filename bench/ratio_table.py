"""Prints the GpuLstm / TorchSharp ratio table from the RESULT lines compare-peers.sh collected."""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
ours = {r["label"]: r for r in rows if r["impl"] == "gpulstm"}
peer = {r["label"]: r for r in rows if r["impl"] == "torchsharp"}

print("| config (V,H,L,T,B) | GpuLstm ms/step | TorchSharp ms/step | time ratio | GpuLstm GFLOP/s | TorchSharp GFLOP/s "
      "| GpuLstm sample chars/s | TorchSharp sample chars/s | sampling ratio | GpuLstm peak RSS | TorchSharp peak RSS | RSS ratio |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for label in ["seed", "small", "medium", "large", "word"]:
    if label not in ours or label not in peer:
        continue
    g, p = ours[label], peer[label]
    shape = f'{g["V"]},{g["H"]},{g["L"]},{g["T"]},{g["B"]}'
    print(f'| {label} ({shape}) | {g["step_ms_median"]:.2f} | {p["step_ms_median"]:.2f} | {g["step_ms_median"] / p["step_ms_median"]:.2f} '
          f'| {g["gflops"]:.1f} | {p["gflops"]:.1f} '
          f'| {g["sample_chars_per_s"]:.0f} | {p["sample_chars_per_s"]:.0f} | {g["sample_chars_per_s"] / p["sample_chars_per_s"]:.1f}x '
          f'| {g["vmhwm_kb"] / 1024:.0f} MiB | {p["vmhwm_kb"] / 1024:.0f} MiB | {g["vmhwm_kb"] / p["vmhwm_kb"]:.2f} |')
if "notebook" in ours and "notebook" in peer:
    g, p = ours["notebook"], peer["notebook"]
    print(f'\nWhole notebook run (50 epochs + 3 x 200 chars, process wall time): GpuLstm {g["wall_s"]:.1f} s, '
          f'TorchSharp {p["wall_s"]:.1f} s, ratio {g["wall_s"] / p["wall_s"]:.2f}; '
          f'peak RSS {g["vmhwm_kb"] / 1024:.0f} MiB vs {p["vmhwm_kb"] / 1024:.0f} MiB')
