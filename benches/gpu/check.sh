#!/usr/bin/env bash
# The GPU measurement (issue 19, part 3): dynunc's training step on wgpu against PyTorch on CUDA,
# the same model, optimizer (Adam, lr 1e-3) and batch (128) on seeded random 224x224x3 images of
# 1,000 classes, with the dynamics recorder on, for resnet18, resnet50, convnext_tiny and
# swin_tiny; plus the recorder's share of the step. Run on a lent device machine (see
# /work/.library/device): it has PyTorch 2.11 with CUDA, torchvision and timm, but no Rust, so
# the benchmark is built here and carried, compressed (stripped it is ~100 MB, over the 64 MiB
# that travels; gzipped ~30 MB):
#
#   cargo bench --no-run --features wgpu --bench throughput
#   mkdir -p .gpu && grep -qx /.gpu/ .git/info/exclude || echo /.gpu/ >> .git/info/exclude
#   cp "$(ls -t target/release/deps/throughput-* | grep -v '\.d$' | head -1)" .gpu/throughput
#   strip .gpu/throughput && gzip -f .gpu/throughput
#   # and the Vulkan loader packages into .gl/, as the device README says
#
# then, in one device call carrying .gpu and .gl (timeout 600):   bash benches/gpu/check.sh
# Each model gets at most DYNUNC_GPU_MODEL_SECONDS (default 130 s); results land in $OUT
# (gpu.txt, <model>.txt). Copy the tables into benches/RESULTS.md.
set -uo pipefail
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
out="${OUT:-.}"
gunzip -kf .gpu/throughput.gz && chmod +x .gpu/throughput
export DYNUNC_PYTHON=python3 DYNUNC_BENCH_BACKEND=wgpu DYNUNC_BENCH_INPUT=imagenet
export DYNUNC_BENCH_ROUNDS="${DYNUNC_BENCH_ROUNDS:-1}" DYNUNC_BENCH_IMAGES="${DYNUNC_BENCH_IMAGES:-1024}"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt"
python3 -c 'import torch, timm, torchvision; print("torch", torch.__version__, "timm", timm.__version__)' | tee -a "$out/gpu.txt"
for model in resnet18 resnet50 convnext_tiny swin_tiny; do
  echo "== $model" | tee "$out/$model.txt"
  DYNUNC_BENCH_MODEL=$model timeout "${DYNUNC_GPU_MODEL_SECONDS:-130}" .gpu/throughput --bench 2>&1 \
    | tee -a "$out/$model.txt"
  echo "exit ${PIPESTATUS[0]}" | tee -a "$out/$model.txt"
done
