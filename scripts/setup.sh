#!/usr/bin/env bash
# Idempotent machine + environment setup for GridTokenX.
#
#   scripts/setup.sh            apt packages, Python env, on-chain programs
#   scripts/setup.sh --no-build skip the program build
#
# Installs only what is missing, says what it is doing, and is safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(
  # Solana program pipeline (see tools/sbpf/README.md): Debian's rustc with a
  # prebuilt BPF core/alloc, and the LLVM tools matching rustc's LLVM.
  rustc-web cargo-web libstd-rust-web-dev-bpf
  # Test and demo peers: MQTT broker (and its command-line clients, mosquitto_pub /
  # mosquitto_sub, which the README's recipes use) and virtual serial ports for Modbus
  # RTU; openssl makes the throwaway CA and broker certificate for TLS tests.
  mosquitto mosquitto-clients socat openssl
)

missing_apt() {
  local p out=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || out+=("$p")
  done
  echo "${out[@]:-}"
}

apt_install() {
  local need
  need=$(missing_apt "$@")
  [ -z "$need" ] && return 0
  say "apt: installing $need"
  if [ -z "${GTX_APT_UPDATED:-}" ]; then
    $SUDO apt-get -o DPkg::Lock::Timeout=120 update -q >/dev/null
    export GTX_APT_UPDATED=1
  fi
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=120 \
    install -y -q --no-install-recommends $need >/dev/null
}

apt_install "${APT_PACKAGES[@]}"

# LLVM tools must match the LLVM inside rustc: read the major version from rustc.
LLVM_MAJOR=$(/usr/bin/rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
[ -n "$LLVM_MAJOR" ] || { echo "error: cannot read the LLVM version from /usr/bin/rustc -vV" >&2; exit 1; }
apt_install "llvm-$LLVM_MAJOR"

# Python environment: one locked environment (uv.lock) for every component.
PY=${GTX_PYTHON:-python3}
if ! "$PY" -m uv --version >/dev/null 2>&1; then
  say "pip: installing uv (environment manager)"
  "$PY" -m pip install -q --disable-pip-version-check "uv==0.13.8"
fi
# native/gtx_native (Rust, PyO3) is a path dependency that uv builds with maturin from
# its committed Cargo.lock; cargo comes from rustup's ~/.cargo/bin when present, else
# from Debian's cargo installed above.
if [ -d "$HOME/.cargo/bin" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
say "python: syncing .venv from uv.lock"
"$PY" -m uv sync --frozen --quiet --python "$PY"

# TypeScript client (clients/ts, generated with Codama): its locked npm dependencies.
# Node >= 20.18 ships on the machine image; `npm ci` runs only when package-lock.json
# changed since the last install (a stamp in node_modules records its hash).
if command -v npm >/dev/null 2>&1; then
  lock_sha=$(sha256sum clients/ts/package-lock.json | cut -d' ' -f1)
  if [ "$(cat clients/ts/node_modules/.gtx-lock-sha256 2>/dev/null)" != "$lock_sha" ]; then
    say "npm: installing clients/ts dependencies (npm ci)"
    (cd clients/ts && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$lock_sha" > clients/ts/node_modules/.gtx-lock-sha256
  fi
else
  echo "warning: npm not found; the TypeScript client (clients/ts) is not installed" >&2
fi

if [ "${1:-}" != "--no-build" ]; then
  say "programs: building SBPF shared objects"
  .venv/bin/python -m tools.sbpf.build
fi
