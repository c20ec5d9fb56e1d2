#!/usr/bin/env bash
# cross/build.sh TARGET [CARGO_ARGS...]: build a static release binary of postfach for TARGET
# and verify it. CARGO_ARGS go to `cargo build`, e.g. --config 'profile.release.opt-level="z"'.
#
#   TARGET  aarch64-unknown-linux-musl      Raspberry Pi 3/4/5, Zero 2 W (64-bit OS)
#           armv7-unknown-linux-gnueabihf   Raspberry Pi 2/3/4 (32-bit OS), static glibc
#           x86_64-unknown-linux-musl       small PCs, NAS boxes
#
# Installs what it needs (rustup target, Debian cross gcc + libc6-dev-*-cross, musl-tools) when
# run as root, builds `cargo build --release --target TARGET` with the linker and ring's C
# compiler set through environment variables only (no .cargo/config is written), then checks the
# result: ELF for the right machine, no program interpreter, no NEEDED entry, stripped, and the
# size budget (POSTFACH_SIZE_BUDGET bytes; default 4 MiB for the ARM targets, the Raspberry Pi
# budget of issue 9, and 5 MiB for x86_64, whose code is ~15% larger; docs/size.md).
# Progress goes to stderr; the last line on stdout is the binary's path, so
# `bin=$(cross/build.sh T)` works.
#
# Exit status: 0 built and verified, 1 build or check failed, 2 usage, 3 could not install a
# toolchain part (download failed).
#
# Environment: CARGO_BUILD_JOBS (default 1: the CI machine has 2 shared cores),
# CARGO_TARGET_DIR (default ./target), POSTFACH_SIZE_BUDGET, CROSS_NO_INSTALL=1 to skip installs.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${1:-}"
shift || true
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

log() { echo "cross/build.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }
# Exit status 3: a toolchain part could not be installed (a download failed), as opposed to a
# build or verification failure (1); .ci/run skips the cross step loudly on 3 only.
unavailable() { log "error: $*"; exit 3; }

# Per target: the Debian packages, the C compiler for ring (cc-rs reads CC_<target>), the
# linker, extra rustflags, and the ELF machine `file` must report.
case "$target" in
  aarch64-unknown-linux-musl)
    # The glibc cross gcc is only the C compiler for ring's assembly/C (no libc headers used)
    # and the linker driver; musl's crt and libc.a come self-contained with rust-std.
    debs=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
    cc=aarch64-linux-gnu-gcc
    rustflags=""
    machine="ARM aarch64"
    budget_mib=4
    ;;
  armv7-unknown-linux-gnueabihf)
    # Static glibc: getaddrinfo/getpwnam would need NSS modules that a static binary cannot
    # load; postfach only binds numeric addresses and never resolves names or users.
    debs=(gcc-arm-linux-gnueabihf libc6-dev-armhf-cross)
    cc=arm-linux-gnueabihf-gcc
    rustflags="-C target-feature=+crt-static"
    machine="ARM, EABI5"
    budget_mib=4
    ;;
  x86_64-unknown-linux-musl)
    # musl-gcc (musl-tools) compiles ring's C against musl headers; rustc links with cc and
    # its self-contained musl crt.
    debs=(musl-tools)
    cc=musl-gcc
    rustflags=""
    machine="x86-64"
    budget_mib=5
    ;;
  *)
    cat >&2 <<'EOF'
usage: cross/build.sh TARGET [CARGO_ARGS...]
  TARGET: aarch64-unknown-linux-musl | armv7-unknown-linux-gnueabihf | x86_64-unknown-linux-musl
ARMv6 (Pi 1, Zero W) is not supported: see docs/deploy-raspberry-pi.md.
EOF
    exit 2
    ;;
esac

budget="${POSTFACH_SIZE_BUDGET:-$((budget_mib * 1024 * 1024))}"

# --- install what is missing ------------------------------------------------------------------
if [ "${CROSS_NO_INSTALL:-0}" != 1 ]; then
  if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    log "rustup target add $target"
    # The download usually takes seconds but has taken minutes; retry once on failure.
    timeout 900 rustup target add "$target" >&2 || timeout 900 rustup target add "$target" >&2 \
      || unavailable "rustup target add $target failed"
  fi
  missing=()
  for d in "${debs[@]}" file binutils; do
    dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q 'ok installed' || missing+=("$d")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    [ "$(id -u)" = 0 ] || die "not root: install ${missing[*]} yourself"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || unavailable "apt-get update failed"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || unavailable "apt-get install ${missing[*]} failed"
  fi
fi
command -v "$cc" >/dev/null || die "$cc not found (apt-get install ${debs[*]})"

# --- build ------------------------------------------------------------------------------------
# Cargo's per-target variables: TARGET upper-cased with '-' → '_' for the linker and rustflags,
# lower-cased with '_' for cc-rs. --target is always passed, so these rustflags (crt-static)
# reach the target code only, never build scripts or proc-macros.
up=$(echo "$target" | tr 'a-z-' 'A-Z_')
low=$(echo "$target" | tr '-' '_')
export "CC_${low}=$cc"
export "AR_${low}=${cc%gcc}ar"
[ "$cc" = musl-gcc ] && export "AR_${low}=ar"
[ "$cc" = musl-gcc ] || export "CARGO_TARGET_${up}_LINKER=$cc"
[ -n "$rustflags" ] && export "CARGO_TARGET_${up}_RUSTFLAGS=$rustflags"

log "cargo build --release --target $target (jobs $CARGO_BUILD_JOBS)"
start=$(date +%s)
cargo build --release --locked --target "$target" --bin postfach "$@" >&2
log "built in $(( $(date +%s) - start )) s"

out_dir="${CARGO_TARGET_DIR:-target}/$target/release"
bin="$out_dir/postfach"
[ -x "$bin" ] || die "no binary at $bin"

# --- verify -----------------------------------------------------------------------------------
desc=$(file -b "$bin")
log "file: $desc"
case "$desc" in *"$machine"*) ;; *) die "not a $machine binary" ;; esac
case "$desc" in *"statically linked"*|*"static-pie linked"*) ;; *) die "not static" ;; esac
if readelf -lW "$bin" | grep -q 'INTERP'; then die "has a program interpreter"; fi
if readelf -dW "$bin" | grep -q '(NEEDED)'; then die "needs shared libraries"; fi
case "$desc" in *", stripped"*) ;; *) die "not stripped (profile.release.strip?)" ;; esac

size=$(stat -c %s "$bin")
mib=$(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1048576 }')
log "size: $size bytes ($mib MiB), budget $budget bytes"
if [ "$size" -gt "$budget" ]; then
  die "size budget exceeded: $target binary is $size bytes ($mib MiB) > $budget"
fi
echo "size $target $size bytes ($mib MiB), static, stripped" >&2
echo "$bin"
