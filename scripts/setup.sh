#!/usr/bin/env bash
# Host set-up for sandbench. Idempotent, and fast (no apt, no pip) when
# everything is already in place; `make run` / `make test` call it every time.
#
#   1. system packages (Debian/Ubuntu, as root): Podman and what it needs,
#      qemu-user-static, debootstrap, Python, ...; apt only when one is missing.
#   2. qemu aarch64 binfmt handler, so arm64 sandboxes run under emulation.
#   3. .venv with `pip install -e '.[dev]'`, redone only when pyproject.toml
#      (or the extras) changed since the last install.
#   4. the default Podman base image (once `sandbench images ensure` exists).
#
# Environment:
#   SANDBENCH_SKIP_SYSTEM=1   skip steps 1 and 2 (you manage Podman yourself)
#   PYTHON=/path/to/python    interpreter for a new .venv (>= 3.11); to switch
#                             an existing one, `make clean` first
#   SANDBENCH_EXTRAS=dev      extras to install (comma-separated)
#   SANDBENCH_SETUP_OS_RELEASE  os-release file to read (for testing this script)
#
# Messages go to stderr, prefixed "setup:". When something cannot be done,
# the script says what to do and exits non-zero (after doing what it can).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)

venv=.venv
stamp=$venv/.sandbench-setup-stamp
extras=${SANDBENCH_EXTRAS:-dev}

# Debian/Ubuntu packages, all installed with --no-install-recommends:
apt_packages=(
    podman            # the sandbox engine
    runc              # OCI runtime that works on cgroup v1/hybrid hosts (crun does not)
    conmon            # container monitor used by podman
    netavark          # container networking (bookworm's podman network backend)
    aardvark-dns      # DNS for netavark networks
    iptables          # netavark's firewall driver needs it (only a Suggests on Debian)
    catatonit         # tiny init for `podman run --init` (reaps zombies in sandboxes)
    uidmap            # newuidmap/newgidmap, for rootless podman
    slirp4netns       # networking for rootless podman
    qemu-user-static  # arm64 sandboxes on x86_64 hosts (and the reverse)
    debootstrap       # offline-buildable Debian base image
    debian-archive-keyring  # lets debootstrap verify Debian's mirror (not default on Ubuntu)
    tmux              # terminal used to drive the TUI end to end in tests
    python3
    python3-venv
    python3-pip
    git
    curl
    ca-certificates
    make
)

log() { printf 'setup: %s\n' "$*" >&2; }
warn() { printf 'setup: warning: %s\n' "$*" >&2; }

# Things the user must do; printed at the end, and then the script exits 1.
todo=()
need() { todo+=("$@"); }

is_root() { [ "$(id -u)" -eq 0 ]; }

# ---------------------------------------------------------------- system ---

os_is_debian_like() {
    local file=${SANDBENCH_SETUP_OS_RELEASE:-/etc/os-release} ID='' ID_LIKE=''
    [ -r "$file" ] || return 1
    # shellcheck disable=SC1090
    ID=$(. "$file" && printf '%s' "${ID:-}")
    # shellcheck disable=SC1090
    ID_LIKE=$(. "$file" && printf '%s' "${ID_LIKE:-}")
    case " $ID $ID_LIKE " in
        *" debian "* | *" ubuntu "*) return 0 ;;
    esac
    return 1
}

missing_apt_packages() {
    # One dpkg-query for all packages; "ii" = installed. Unknown names are
    # reported on stderr and exit non-zero: both just mean "missing".
    local installed
    installed=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${apt_packages[@]}" 2>/dev/null |
        awk '$1 == "ii" { print $2 }') || true
    local p
    for p in "${apt_packages[@]}"; do
        case $'\n'"$installed"$'\n' in
            *$'\n'"$p"$'\n'*) ;;
            *) printf '%s\n' "$p" ;;
        esac
    done
}

install_apt_packages() {
    local missing=()
    local p
    while IFS= read -r p; do
        [ -n "$p" ] && missing+=("$p")
    done < <(missing_apt_packages)
    [ "${#missing[@]}" -eq 0 ] && return 0

    if ! is_root; then
        need "these system packages are missing: ${missing[*]}" \
            "install them with:" \
            "    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" \
            "or run:  sudo scripts/setup.sh"
        return 0
    fi

    log "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    log "apt-get update"
    if ! apt-get -q update; then
        need "apt-get update failed (see above): check the network and /etc/apt/sources.list*, then rerun scripts/setup.sh"
        return 0
    fi
    log "apt-get install (a few minutes the first time)"
    if ! apt-get -q install -y --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}"; then
        need "apt-get install failed (see above); fix that, then rerun scripts/setup.sh"
        return 0
    fi
    log "system packages installed"
}

ensure_binfmt_aarch64() {
    local dir=/proc/sys/fs/binfmt_misc
    local conf=/usr/lib/binfmt.d/qemu-aarch64.conf
    case $(uname -m) in aarch64 | arm64) return 0 ;; esac # native arm64
    [ -e "$dir/qemu-aarch64" ] && return 0

    local cmd="mount -t binfmt_misc binfmt_misc $dir (if not mounted); grep '^:' $conf > $dir/register"
    if ! is_root; then
        warn "the qemu aarch64 binfmt handler is not registered: arm64 sandboxes will not run." \
            "As root: $cmd  (or run: sudo scripts/setup.sh)"
        return 0
    fi
    if [ ! -r "$conf" ]; then
        warn "$conf not found (is qemu-user-static installed?): arm64 sandboxes will not run."
        return 0
    fi
    log "registering the qemu aarch64 binfmt handler"
    if [ ! -e "$dir/register" ]; then
        mount -t binfmt_misc binfmt_misc "$dir" 2>/dev/null || true
    fi
    # "File exists" (registered meanwhile) is fine: the check below decides.
    grep -m1 '^:' "$conf" >"$dir/register" 2>/dev/null || true
    if [ ! -e "$dir/qemu-aarch64" ]; then
        warn "could not register the qemu aarch64 binfmt handler: arm64 sandboxes will not run." \
            "Try as root: $cmd"
    fi
}

setup_system() {
    if [ "${SANDBENCH_SKIP_SYSTEM:-}" = 1 ]; then
        return 0
    fi
    if [ "$(uname -s)" = Darwin ]; then
        if ! command -v podman >/dev/null 2>&1; then
            need "Podman is not installed. On macOS:" \
                "    brew install podman && podman machine init && podman machine start" \
                "then rerun scripts/setup.sh (or set SANDBENCH_SKIP_SYSTEM=1 to skip this check)"
        fi
        return 0
    fi
    if ! os_is_debian_like || ! command -v dpkg-query >/dev/null 2>&1; then
        if command -v podman >/dev/null 2>&1; then
            log "not Debian/Ubuntu: using the podman on PATH; system packages are up to you"
            [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || [ "$(uname -m)" = aarch64 ] ||
                warn "no qemu aarch64 binfmt handler registered: arm64 sandboxes will not run"
        else
            need "not Debian/Ubuntu, and podman is not installed. Needed: Podman (with" \
                "runc or crun, conmon, netavark), qemu-user-static (arm64 sandboxes), debootstrap," \
                "tmux, Python >= 3.11, git, curl. For example:" \
                "    Fedora: sudo dnf install -y podman qemu-user-static debootstrap tmux python3 git curl" \
                "    Arch:   sudo pacman -S --needed podman qemu-user-static qemu-user-static-binfmt debootstrap tmux python git curl" \
                "then rerun scripts/setup.sh (or set SANDBENCH_SKIP_SYSTEM=1 to skip this check)"
        fi
        return 0
    fi
    install_apt_packages
    # Only once qemu-user-static is there; else the missing-package message covers it.
    if [ -e /usr/lib/binfmt.d/qemu-aarch64.conf ] || is_root; then
        ensure_binfmt_aarch64
    fi
}

# ------------------------------------------------------------------ venv ---

python_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; }

pick_python() {
    local c
    if [ -n "${PYTHON:-}" ]; then
        python_ok "$PYTHON" && { printf '%s\n' "$PYTHON"; return 0; }
        return 1
    fi
    for c in python3 python3.13 python3.12 python3.11; do
        if command -v "$c" >/dev/null 2>&1 && python_ok "$c"; then
            printf '%s\n' "$c"
            return 0
        fi
    done
    return 1
}

file_hash() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

setup_venv() {
    local want
    want="$(file_hash pyproject.toml) extras=$extras"
    if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0 # up to date
    fi
    install_venv "$want"
    # Run with sudo in someone else's checkout: give the venv back to them.
    if is_root && [ -d "$venv" ] && [ "$(uname -s)" = Linux ]; then
        local owner
        owner=$(stat -c %u:%g "$repo")
        [ "$owner" = 0:0 ] || chown -R "$owner" "$venv"
    fi
}

install_venv() {
    local want=$1 py
    if [ ! -x "$venv/bin/python" ] || ! python_ok "$venv/bin/python"; then
        if ! py=$(pick_python); then
            if [ -n "${PYTHON:-}" ]; then
                need "PYTHON=$PYTHON is not a working Python >= 3.11: point PYTHON at one, or unset it"
                return 0
            fi
            need "no Python >= 3.11 found (python3 is $(command -v python3 >/dev/null 2>&1 &&
                python3 --version 2>&1 || echo missing))." \
                "Install one (Debian/Ubuntu: apt-get install python3.11 python3.11-venv;" \
                "macOS: brew install python@3.12), then rerun: PYTHON=/path/to/python3.X scripts/setup.sh"
            return 0
        fi
        log "creating $venv with $py ($("$py" -c 'import sys; print(sys.version.split()[0])'))"
        rm -rf "$venv"
        if ! "$py" -m venv "$venv"; then
            rm -rf "$venv"
            need "'$py -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv), then rerun scripts/setup.sh"
            return 0
        fi
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip ||
            warn "could not upgrade pip in $venv; going on with the one it has"
    fi

    log "installing sandbench with extras [$extras] into $venv (pyproject.toml changed)"
    if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[$extras]"; then
        need "pip install -e '.[$extras]' failed (see above); fix that, then rerun scripts/setup.sh"
        return 0
    fi
    printf '%s\n' "$want" >"$stamp"
}

# ------------------------------------------------------------ base image ---

# Builds the default Podman base image when it is missing. Does nothing until
# the CLI has an `images ensure` command.
ensure_base_image() {
    command -v podman >/dev/null 2>&1 || return 0
    [ -x "$venv/bin/sandbench" ] || return 0
    "$venv/bin/sandbench" images ensure --help >/dev/null 2>&1 || return 0
    if ! "$venv/bin/sandbench" images ensure; then
        warn "could not build or find the base image: sandboxes will fail until" \
            "'$venv/bin/sandbench images ensure' succeeds"
    fi
}

# ------------------------------------------------------------------ main ---

setup_system
setup_venv
[ "${#todo[@]}" -eq 0 ] && ensure_base_image

if [ "${#todo[@]}" -gt 0 ]; then
    log "NOT DONE. To finish:"
    for line in "${todo[@]}"; do
        log "  $line"
    done
    exit 1
fi
log "ready"
