#!/usr/bin/env bash
# The paper model of a GPU training step: GpuLstm's GPU path, as its own dry run lists the launches (shapes,
# grids, FLOPs, bytes), priced on a GPU under the assumptions it prints first.
#
#   bash bench/gpu-model.sh                                   # every configuration, every GPU, cuBLAS and the own GEMMs
#   bash bench/gpu-model.sh --config medium --gpu h100        # one of each
#   bash bench/gpu-model.sh --config anchors                  # the published measurements it is checked against
#
# Prints a table per configuration and GPU, and one RESULT {json} line each (predicted_ms, launches_per_step,
# syncs_per_step, fp32_floor_ms, measured_ms for anchors). No GPU needed.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build bench -c Release -v q -nologo >/dev/null
dotnet bench/bin/Release/net10.0/GpuLstm.Bench.dll gpu-model "$@"
