#!/usr/bin/env bash
# The backend conformance test on wgpu (`--features wgpu`).
#
# On a machine without a GPU it runs on Mesa's software Vulkan driver (lavapipe): Debian/Ubuntu
# packages mesa-vulkan-drivers and libvulkan1, installed here when missing and apt-get is usable.
# On a GPU machine the same command uses the GPU's Vulkan/Metal/DX12 driver.
#
#   scripts/test-wgpu.sh             # build in target/wgpu
#   TRRG_DEVICE=cpu scripts/test-wgpu.sh   # force the software adapter
set -euo pipefail
cd "$(dirname "$0")/.."
if ! ls /usr/share/vulkan/icd.d/*.json >/dev/null 2>&1; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q mesa-vulkan-drivers libvulkan1 >/dev/null
    else
        echo "test-wgpu: no Vulkan driver found; install mesa-vulkan-drivers and libvulkan1" >&2
        exit 1
    fi
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/wgpu}
cargo test --features wgpu --test conformance -- --nocapture
