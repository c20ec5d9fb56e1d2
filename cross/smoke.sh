#!/usr/bin/env bash
# cross/smoke.sh TARGET [BIN]: run a cross-built postfach under qemu-user and use it for real.
#
# Builds BIN with cross/build.sh TARGET unless given, then cross/smoke.py starts
# `BIN serve --data DIR --imap 127.0.0.1:0 --imaps 127.0.0.1:0 --lmtp 127.0.0.1:0` under
# qemu-aarch64-static / qemu-arm-static (natively for x86_64), adds a user with
# `BIN user add`, and checks TLS login, STARTTLS, APPEND, FETCH, IDLE push, LMTP delivery and
# a clean SIGTERM shutdown. Prints `smoke ARCH: N passed, M failed`; exits 1 on any failure,
# 3 when qemu-user-static could not be installed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

target="${1:?usage: cross/smoke.sh TARGET [BIN]}"
bin="${2:-}"
if [ -z "$bin" ]; then
  bin=$("$here/build.sh" "$target" | tail -n 1)
fi
[ -x "$bin" ] || { echo "cross/smoke.sh: no binary at $bin" >&2; exit 1; }

# The oldest CPU each binary is meant for (QEMU_CPU overrides): Cortex-A53 (Pi 3, Zero 2 W),
# Cortex-A7 (Pi 2). qemu's default CPU has every feature, which would hide an instruction the
# board lacks. (qemu's A53 has the ARMv8 crypto extensions, which the Pi's SoCs lack: ring then
# takes its NEON paths on the board, which this test does not run.)
case "$target" in
  aarch64-*) qemu=qemu-aarch64-static; export QEMU_CPU="${QEMU_CPU:-cortex-a53}" ;;
  armv7-*) qemu=qemu-arm-static; export QEMU_CPU="${QEMU_CPU:-cortex-a7}" ;;
  x86_64-*) qemu="" ;;
  *) echo "cross/smoke.sh: unknown target $target" >&2; exit 2 ;;
esac
if [ -n "$qemu" ] && ! command -v "$qemu" >/dev/null; then
  if [ "$(id -u)" = 0 ] && [ "${CROSS_NO_INSTALL:-0}" != 1 ]; then
    echo "cross/smoke.sh: apt-get install qemu-user-static" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      qemu-user-static >/dev/null || true
  fi
  # Exit status 3, as in build.sh: the emulator is missing, nothing was tested.
  command -v "$qemu" >/dev/null || { echo "cross/smoke.sh: $qemu not found" >&2; exit 3; }
fi

[ -n "$qemu" ] && echo "cross/smoke.sh: $qemu, QEMU_CPU=$QEMU_CPU" >&2
exec python3 "$here/smoke.py" --target "$target" --bin "$bin" ${qemu:+--qemu "$qemu"}
