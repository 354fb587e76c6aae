#!/bin/sh
# Installs the production node_modules of one app workspace for the target architecture:
#   install-prod-deps.sh <workspace> <TARGETARCH>
# `npm ci -w <workspace>` links only that app's @edge-ssd workspaces and installs only the
# packages they declare, so an image carries what its app loads and nothing else. sharp's @img/*
# binaries are chosen by --os/--cpu/--libc; onnxruntime-node ships every platform's binaries, and
# all but linux/<cpu> are deleted.
set -eu
workspace="$1"
case "$2" in
  amd64) cpu=x64 ;;
  arm64) cpu=arm64 ;;
  *) echo "unsupported TARGETARCH '$2' (amd64 or arm64)" >&2; exit 1 ;;
esac
npm ci --omit=dev --ignore-scripts --no-audit --no-fund --os=linux --cpu="${cpu}" --libc=glibc -w "${workspace}"
ort=node_modules/onnxruntime-node/bin/napi-v6
if [ -d "${ort}" ]; then
  test -f "${ort}/linux/${cpu}/onnxruntime_binding.node"
  find "${ort}" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} +
  find "${ort}/linux" -mindepth 1 -maxdepth 1 ! -name "${cpu}" -exec rm -rf {} +
fi
if [ -d node_modules/sharp ]; then test -d "node_modules/@img/sharp-linux-${cpu}"; fi
