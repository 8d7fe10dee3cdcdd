#!/usr/bin/env bash
# Issue 6's GPU measurement: the throughput benchmark on wgpu against PyTorch on CUDA, for the
# `cnn` and `resnet18` presets, on a lent device machine (see /work/.library/device). That
# machine has PyTorch but no Rust, so the benchmark is built here and carried:
#
#   cargo bench --no-run --features wgpu --bench throughput
#   mkdir -p .gpu && echo /.gpu/ >> .git/info/exclude
#   cp "$(ls -t target/release/deps/throughput-* | grep -v '\.d$' | head -1)" .gpu/throughput
#   strip .gpu/throughput
#   cp /usr/share/datasets/fashion-mnist/*-ubyte.gz .gpu/
#   # and the Vulkan loader packages into .gl/, as the device README says
#
# then run there, carrying .gpu and .gl:   bash benches/gpu/check.sh
# Results land in $OUT (cnn.txt, resnet18.txt); copy the tables into benches/RESULTS.md.
set -euo pipefail
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
export DYNUNC_FMNIST="$PWD/.gpu" DYNUNC_PYTHON=python3 DYNUNC_BENCH_BACKEND=wgpu
export DYNUNC_BENCH_ROUNDS="${DYNUNC_BENCH_ROUNDS:-2}"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "${OUT:-.}/gpu.txt"
for model in cnn resnet18; do
  DYNUNC_BENCH_MODEL=$model .gpu/throughput --bench 2>&1 | tee "${OUT:-.}/$model.txt"
done
