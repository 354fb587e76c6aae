#!/usr/bin/env bash
# What `npm test` needs besides node_modules, installed once per machine (idempotent; root):
# Debian's python3-opencv (OpenCV DNN and cv2.resize as independent oracles), python3-onnx (the
# ONNX checker), python3-skimage (public-domain sample photos), python3-requests (the DeepStack
# client of the HTTP tests), chromium (the demo page's browser test), qemu-user-static plus an arm64
# Node/glibc sysroot in .arm64/ (the arm64 proof).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
/usr/bin/python3 -c 'import cv2' 2>/dev/null || missing+=(python3-opencv)
/usr/bin/python3 -c 'import onnx' 2>/dev/null || missing+=(python3-onnx)
/usr/bin/python3 -c 'import skimage' 2>/dev/null || missing+=(python3-skimage)
/usr/bin/python3 -c 'import requests' 2>/dev/null || missing+=(python3-requests)
command -v chromium >/dev/null || missing+=(chromium)
command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=900 --no-install-recommends "${missing[@]}"
fi
bash tools/arm64/setup.sh
