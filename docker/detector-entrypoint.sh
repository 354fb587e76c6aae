#!/bin/sh
# Detector entrypoint. With DETECTOR_CPU_AFFINITY set (a taskset CPU list, e.g. "4,5" for the
# RK3399's two Cortex-A72 cores), the whole detector process (main thread, onnxruntime threads,
# libuv pool) is pinned to those CPUs, provided the container's cpuset allows them; otherwise it
# runs unpinned and says why. Node cannot set thread affinity itself, so taskset does it before
# exec. Arguments are passed to the detector; node ends up as this process (PID 1), so SIGTERM
# reaches it directly.
set -eu
cd "$(dirname "$0")/.."
if [ -n "${DETECTOR_CPU_AFFINITY:-}" ]; then
  if taskset -c "${DETECTOR_CPU_AFFINITY}" true 2>/dev/null; then
    echo "{\"level\":\"info\",\"app\":\"detector-entrypoint\",\"msg\":\"pinning the detector to CPUs ${DETECTOR_CPU_AFFINITY}\"}"
    exec taskset -c "${DETECTOR_CPU_AFFINITY}" node apps/detector/dist/main.js "$@"
  fi
  echo "{\"level\":\"warn\",\"app\":\"detector-entrypoint\",\"msg\":\"cannot pin to CPUs ${DETECTOR_CPU_AFFINITY} (allowed: $(taskset -cp $$ 2>/dev/null | sed 's/.*: //')); running unpinned\"}"
fi
exec node apps/detector/dist/main.js "$@"
