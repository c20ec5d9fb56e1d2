#!/usr/bin/env bash
# cross/ci.sh [TARGET]: the CI cross step: build TARGET (default aarch64-unknown-linux-musl) with
# cross/build.sh (static, stripped, within the size budget), then run it under qemu-user with
# cross/smoke.sh. Exit status as theirs: 0 passed, 1 failed, 3 a toolchain part could not be
# installed (nothing was built or tested).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="${1:-aarch64-unknown-linux-musl}"

bin=$("$here/build.sh" "$target" | tail -n 1)
"$here/smoke.sh" "$target" "$bin"
