#!/usr/bin/env bash
# Host set-up for sandbench. Idempotent, and fast (no apt, no pip) when
# everything is already in place; `make run` / `make test` call it every time.
#
#   1. system packages (Debian/Ubuntu, as root): Podman and what it needs,
#      qemu-user-static, debootstrap, Python, ...; apt only when one is missing.
#   2. qemu aarch64 binfmt handler, so arm64 sandboxes run under emulation;
#      the `sandbench` subordinate id range in /etc/subuid and /etc/subgid, from
#      which each sandbox gets a user namespace of its own (engine/userns.py).
#   3. .venv with `pip install -e '.[dev,cluster]'`, redone only when pyproject.toml
#      (or the extras) changed since the last install.
#   4. tests/js/node_modules: Runloop's TypeScript SDK for the client tests,
#      `npm ci` redone only when tests/js/package*.json changed.
#   5. .venv-harbor: Harbor (Python >= 3.12) with its runloop environment, for
#      the client tests; redone only when the pinned versions below change.
#   6. the in-sandbox exec agent (Go, static, amd64 and arm64), rebuilt only when its
#      source or the Go toolchain changed.
#   7. the default Podman base image (once `sandbench images ensure` exists).
#
# Environment:
#   SANDBENCH_SKIP_SYSTEM=1   skip steps 1 and 2 (you manage Podman yourself)
#   PYTHON=/path/to/python    interpreter for a new .venv (>= 3.11); to switch
#                             an existing one, `make clean` first
#   SANDBENCH_EXTRAS=dev,cluster  extras to install (comma-separated; cluster is Ray)
#   HARBOR_PYTHON=/path/to/python  interpreter (>= 3.12) for a new .venv-harbor;
#                             else python3.13, python3.12 or python3 on PATH, else
#                             pyenv's newest 3.12/3.13; to switch, rm -rf .venv-harbor
#   SANDBENCH_SKIP_JS=1       skip step 4 (the TypeScript SDK tests then skip)
#   SANDBENCH_SKIP_HARBOR=1   skip step 5 (the Harbor tests then skip)
#   SANDBENCH_SETUP_OS_RELEASE  os-release file to read (for testing this script)
#   SANDBENCH_SETUP_SUBID_DIR   directory holding the subuid/subgid files to edit
#                             (default /etc; for testing this script)
#
# Messages go to stderr, prefixed "setup:". When something cannot be done,
# the script says what to do and exits non-zero (after doing what it can).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)

venv=.venv
stamp=$venv/.sandbench-setup-stamp
extras=${SANDBENCH_EXTRAS:-dev,cluster}

js_dir=tests/js
js_stamp=$js_dir/node_modules/.sandbench-setup-stamp

harbor_venv=.venv-harbor
harbor_stamp=$harbor_venv/.sandbench-setup-stamp
# Harbor 0.25.0 asks for runloop-api-client>=1.23.2, and 2.0 dropped the scenario API:
# pin the client to the version the tests (and the server) are written against.
harbor_requirements=("harbor[runloop]==0.25.0" "runloop-api-client==1.32.0")

# Debian/Ubuntu packages, all installed with --no-install-recommends:
apt_packages=(
    podman            # the sandbox engine
    runc              # OCI runtime that works on cgroup v1/hybrid hosts (crun does not)
    conmon            # container monitor used by podman
    netavark          # container networking (bookworm's podman network backend)
    aardvark-dns      # DNS for netavark networks
    iptables          # netavark's firewall driver, and sandbench's host wall (engine/isolation.py)
    catatonit         # tiny init for `podman run --init` (reaps zombies in sandboxes)
    uidmap            # newuidmap/newgidmap, for rootless podman
    slirp4netns       # networking for rootless podman
    qemu-user-static  # arm64 sandboxes on x86_64 hosts (and the reverse)
    debootstrap       # offline-buildable Debian base image
    debian-archive-keyring  # lets debootstrap verify Debian's mirror (not default on Ubuntu)
    tmux              # terminal used to drive the TUI end to end in tests
    nodejs            # runs Runloop's TypeScript SDK in the client tests (tests/js);
    npm               # both count as installed when `node` / `npm` are on PATH
    python3
    python3-venv
    python3-pip
    git
    curl
    ca-certificates
    make
    golang-go         # builds the in-sandbox exec agent (static, cross-compiled, no cgo)
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

# A package that counts as installed when this command is on PATH. NodeSource's
# nodejs, say, bundles npm and conflicts with Debian's npm package: asking apt for
# npm there would replace that node with Debian's.
apt_package_command() {
    case $1 in
        nodejs) printf 'node\n' ;;
        npm) printf 'npm\n' ;;
        golang-go) printf 'go\n' ;;
        *) return 1 ;;
    esac
}

missing_apt_packages() {
    # One dpkg-query for all packages; "ii" = installed. Unknown names are
    # reported on stderr and exit non-zero: both just mean "missing".
    local installed
    installed=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${apt_packages[@]}" 2>/dev/null |
        awk '$1 == "ii" { print $2 }') || true
    local p cmd
    for p in "${apt_packages[@]}"; do
        if cmd=$(apt_package_command "$p") && command -v "$cmd" >/dev/null 2>&1; then
            continue
        fi
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

# The range the engine's user namespaces come from (engine/userns.py, DEFAULT_ENTRY):
# 4096 slots of 65536 ids from 2^30, clear of per-user ranges (from 100000) and of the
# range Podman suggests for `containers` (from 2^31). An existing entry is left as is.
subid_entry=sandbench:1073741824:268435456

ensure_subids() {
    local dir=${SANDBENCH_SETUP_SUBID_DIR:-/etc} file
    for file in "$dir/subuid" "$dir/subgid"; do
        if [ -f "$file" ] && grep -q '^sandbench:' "$file"; then
            continue
        fi
        if ! is_root && [ -z "${SANDBENCH_SETUP_SUBID_DIR:-}" ]; then
            need "$file has no sandbench entry (user namespaces for sandboxes):" \
                "    echo $subid_entry | sudo tee -a $file" \
                "or \`sandbench config set user_namespaces false\`"
            continue
        fi
        log "adding $subid_entry to $file"
        printf '%s\n' "$subid_entry" >>"$file"
    done
}

setup_system() {
    if [ "$(uname -s)" = Linux ] && [ "${SANDBENCH_SKIP_SYSTEM:-}" != 1 ]; then
        ensure_subids
    fi
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
                "tmux, Python >= 3.11, git, curl, and for the client tests Node.js >= 18 with npm" \
                "and a Python >= 3.12. For example:" \
                "    Fedora: sudo dnf install -y podman qemu-user-static debootstrap tmux python3 git curl nodejs npm" \
                "    Arch:   sudo pacman -S --needed podman qemu-user-static qemu-user-static-binfmt debootstrap tmux python git curl nodejs npm" \
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

# Run with sudo in someone else's checkout: give what set-up made back to them.
give_back() {
    if is_root && [ -e "$1" ] && [ "$(uname -s)" = Linux ]; then
        local owner
        owner=$(stat -c %u:%g "$repo")
        [ "$owner" = 0:0 ] || chown -R "$owner" "$1"
    fi
}

setup_venv() {
    local want
    want="$(file_hash pyproject.toml) extras=$extras"
    if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0 # up to date
    fi
    install_venv "$want"
    give_back "$venv"
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

# ------------------------------------------------- TypeScript SDK (npm) ---

setup_js() {
    [ "${SANDBENCH_SKIP_JS:-}" = 1 ] && return 0
    [ -f "$js_dir/package-lock.json" ] || return 0
    local want
    want="$(file_hash "$js_dir/package-lock.json") $(file_hash "$js_dir/package.json")"
    if [ -f "$js_stamp" ] && [ "$(cat "$js_stamp")" = "$want" ]; then
        return 0 # up to date
    fi
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        # On Debian/Ubuntu the system step has already said how to get them.
        warn "node or npm is not on PATH: Runloop's TypeScript SDK is not installed and its" \
            "tests will skip (in CI they fail). Install Node.js >= 18 with npm (Debian/Ubuntu:" \
            "sudo apt-get install nodejs npm), then rerun scripts/setup.sh"
        return 0
    fi
    local major
    major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
    if [ "$major" -lt 18 ] 2>/dev/null; then
        need "node $(node --version 2>&1) is too old for Runloop's TypeScript SDK (it needs >= 18):" \
            "install Node.js >= 18, then rerun scripts/setup.sh (SANDBENCH_SKIP_JS=1 skips this)"
        return 0
    fi
    log "installing Runloop's TypeScript SDK into $js_dir/node_modules (npm ci; package-lock.json changed)"
    if ! (cd "$js_dir" && npm ci --no-audit --no-fund --loglevel=error); then
        need "npm ci in $js_dir failed (see above); fix that, then rerun scripts/setup.sh" \
            "(SANDBENCH_SKIP_JS=1 skips this step)"
        return 0
    fi
    printf '%s\n' "$want" >"$js_stamp"
    give_back "$js_dir/node_modules"
}

# ------------------------------------------------------- Harbor (>= 3.12) ---

python_at_least() { "$1" -c "import sys; sys.exit(sys.version_info < ($2, $3))" >/dev/null 2>&1; }

pick_harbor_python() {
    local c root
    if [ -n "${HARBOR_PYTHON:-}" ]; then
        python_at_least "$HARBOR_PYTHON" 3 12 && { printf '%s\n' "$HARBOR_PYTHON"; return 0; }
        return 1
    fi
    for c in python3.13 python3.12 python3; do
        # pyenv's shims are on PATH for every version it has, but run only the selected one
        if command -v "$c" >/dev/null 2>&1 && python_at_least "$c" 3 12; then
            command -v "$c"
            return 0
        fi
    done
    if command -v pyenv >/dev/null 2>&1; then
        root=$(pyenv root 2>/dev/null) || root=
    fi
    root=${root:-${PYENV_ROOT:-${HOME:-}/.pyenv}}
    for c in $(printf '%s\n' "$root"/versions/3.1[23]*/bin/python | sort -rV); do
        if [ -x "$c" ] && python_at_least "$c" 3 12; then
            printf '%s\n' "$c"
            return 0
        fi
    done
    return 1
}

setup_harbor() {
    [ "${SANDBENCH_SKIP_HARBOR:-}" = 1 ] && return 0
    local want="${harbor_requirements[*]}" py
    if [ -x "$harbor_venv/bin/python" ] && [ -f "$harbor_stamp" ] &&
        [ "$(cat "$harbor_stamp")" = "$want" ]; then
        return 0 # up to date
    fi
    if [ ! -x "$harbor_venv/bin/python" ] || ! python_at_least "$harbor_venv/bin/python" 3 12; then
        if ! py=$(pick_harbor_python); then
            if [ -n "${HARBOR_PYTHON:-}" ]; then
                need "HARBOR_PYTHON=$HARBOR_PYTHON is not a working Python >= 3.12: point it at one, or unset it"
                return 0
            fi
            need "Harbor (for the client tests) needs Python >= 3.12, and none was found" \
                "(not python3.13, python3.12 or python3 on PATH, nor pyenv's versions/3.12* or 3.13*)." \
                "Debian 12 packages only 3.11. Get one, e.g. with pyenv:  pyenv install 3.12" \
                "(Ubuntu 24.04 / Debian 13: apt-get install python3 python3-venv; macOS: brew install python@3.12)," \
                "then rerun: HARBOR_PYTHON=/path/to/python3.12 scripts/setup.sh" \
                "(or SANDBENCH_SKIP_HARBOR=1 scripts/setup.sh to go without Harbor: its tests then skip)"
            return 0
        fi
        log "creating $harbor_venv with $py ($("$py" -c 'import sys; print(sys.version.split()[0])'))"
        rm -rf "$harbor_venv"
        if ! "$py" -m venv "$harbor_venv"; then
            rm -rf "$harbor_venv"
            need "'$py -m venv $harbor_venv' failed (see above); fix that, then rerun scripts/setup.sh"
            return 0
        fi
        # nothing in it belongs in git (Python 3.13's venv writes this too)
        printf '*\n' >"$harbor_venv/.gitignore"
        "$harbor_venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip ||
            warn "could not upgrade pip in $harbor_venv; going on with the one it has"
    fi
    log "installing ${harbor_requirements[*]} into $harbor_venv (a minute or two the first time)"
    if ! "$harbor_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "${harbor_requirements[@]}"; then
        need "pip install ${harbor_requirements[*]} into $harbor_venv failed (see above);" \
            "fix that, then rerun scripts/setup.sh (SANDBENCH_SKIP_HARBOR=1 skips this step)"
        return 0
    fi
    printf '%s\n' "$want" >"$harbor_stamp"
    give_back "$harbor_venv"
}

# ------------------------------------------------------------ exec agent ---

agent_dir=src/sandbench/engine/agent
agent_stamp=$agent_dir/bin/.sandbench-setup-stamp

# The agent runs inside every sandbox (see src/sandbench/engine/agent_client.py). Without
# it sandboxes still work, through one Podman exec per command (slower).
setup_agent() {
    [ -f "$agent_dir/main.go" ] || return 0
    if ! command -v go >/dev/null 2>&1; then
        need "the Go toolchain is missing: it builds the in-sandbox exec agent" \
            "(Debian/Ubuntu: apt-get install golang-go; elsewhere: https://go.dev/dl), then rerun scripts/setup.sh"
        return 0
    fi
    local want f
    want="$(go env GOVERSION)"
    for f in "$agent_dir"/go.mod "$agent_dir"/*.go; do
        want="$want $(file_hash "$f")"
    done
    if [ -f "$agent_stamp" ] && [ "$(cat "$agent_stamp")" = "$want" ] &&
        [ -x "$agent_dir/bin/sandbench-agent-linux-amd64" ] &&
        [ -x "$agent_dir/bin/sandbench-agent-linux-arm64" ]; then
        return 0 # up to date
    fi
    log "building the exec agent (amd64, arm64)"
    mkdir -p "$agent_dir/bin"
    local arch
    for arch in amd64 arm64; do
        if ! (cd "$agent_dir" && CGO_ENABLED=0 GOOS=linux GOARCH=$arch \
            GOCACHE="${GOCACHE:-$repo/build/go-cache}" \
            go build -trimpath -ldflags='-s -w' -o "bin/sandbench-agent-linux-$arch.new" . &&
            mv "bin/sandbench-agent-linux-$arch.new" "bin/sandbench-agent-linux-$arch"); then
            need "building the exec agent for $arch failed (see above); fix that, then rerun scripts/setup.sh"
            return 0
        fi
    done
    printf '%s\n' "$want" >"$agent_stamp"
    give_back "$agent_dir/bin"
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
setup_js
setup_harbor
setup_agent
[ "${#todo[@]}" -eq 0 ] && ensure_base_image

if [ "${#todo[@]}" -gt 0 ]; then
    log "NOT DONE. To finish:"
    for line in "${todo[@]}"; do
        log "  $line"
    done
    exit 1
fi
log "ready"
