# shellcheck shell=bash
# Shared helpers for scripts/test and scripts/demo. Source it, don't run it.
#
# Sets CT_ROOT (the repository root) and CT_VENV (its virtualenv), and offers:
#   ct_step MESSAGE...          print a progress line
#   ct_die MESSAGE...           print an error and exit 1
#   ct_ensure_packages PKG...   make sure Debian packages are there (apt-get as root)
#   ct_ensure_venv              create .venv and `pip install -e '.[dev]'` when needed

CT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# CIVICTWIN_VENV points at an existing, ready venv to use as it is (e.g. one
# shared by several git worktrees); the checkout's own src/ then comes first.
CT_VENV="${CIVICTWIN_VENV:-$CT_ROOT/.venv}"
CT_PYTHON="${PYTHON:-python3}"          # interpreter used to create the venv
CT_PG_BIN="/usr/lib/postgresql/15/bin"  # where Debian puts initdb, pg_ctl, ...
CT_PG_SHARE="/usr/share/postgresql/15"
export CT_ROOT CT_VENV CT_PG_BIN

ct_step() { printf '==> %s\n' "$*"; }
ct_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

ct_is_root() { [[ "$(id -u)" -eq 0 ]]; }

# ct_package_present PKG: is what we need from Debian package PKG usable here?
# Checks the files we use rather than dpkg, so an equivalent install also counts.
ct_package_present() {
    case "$1" in
        python3) command -v "$CT_PYTHON" >/dev/null 2>&1 ;;
        # Debian ships ensurepip (needed by `python3 -m venv`) in python3-venv.
        python3-venv) "$CT_PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1 ;;
        postgresql-15) [[ -x "$CT_PG_BIN/initdb" && -x "$CT_PG_BIN/pg_ctl" && -x "$CT_PG_BIN/postgres" ]] ;;
        postgresql-client-15) [[ -x "$CT_PG_BIN/psql" ]] ;;
        postgresql-15-postgis-3) [[ -f "$CT_PG_SHARE/extension/postgis.control" && -f /usr/lib/postgresql/15/lib/postgis-3.so ]] ;;
        mosquitto) [[ -x /usr/sbin/mosquitto ]] ;;
        chromium) [[ -x /usr/bin/chromium ]] ;;
        # Spark (pyspark) needs a Java 17+ runtime; any java on PATH will do.
        openjdk-17-jre-headless) command -v java >/dev/null 2>&1 ;;
        # The web map is built from npm packages with the machine's Node.js.
        nodejs) command -v node >/dev/null 2>&1 ;;
        npm) command -v npm >/dev/null 2>&1 ;;
        *) dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' ;;
    esac
}

# ct_missing_packages PKG...: print the ones that are missing, space-separated.
ct_missing_packages() {
    local pkg missing=()
    for pkg in "$@"; do
        ct_package_present "$pkg" || missing+=("$pkg")
    done
    echo "${missing[*]}"
}

# ct_ensure_packages PKG...: install missing packages when root; otherwise say
# exactly what is missing and how to install it, and exit 1.
ct_ensure_packages() {
    local missing
    missing="$(ct_missing_packages "$@")"
    [[ -z "$missing" ]] && return 0
    if ! ct_is_root; then
        {
            echo "error: missing system packages: $missing"
            echo "install them with:"
            echo "    sudo apt-get update && sudo apt-get install -y $missing"
        } >&2
        exit 1
    fi
    ct_step "installing system packages: $missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086  # $missing is a space-separated list of names
    apt-get install -y -q $missing
    missing="$(ct_missing_packages "$@")"
    [[ -z "$missing" ]] || ct_die "still missing after apt-get install: $missing"
}

# Packages needed to create the venv; nothing when a working venv exists.
ct_venv_packages() {
    if [[ -x "$CT_VENV/bin/python" ]] && "$CT_VENV/bin/python" -c '' 2>/dev/null; then
        return 0
    fi
    echo python3 python3-venv
}

# ct_ensure_venv: create .venv if needed and install the project with its dev
# extras, skipping the install when pyproject.toml is unchanged since last time.
ct_ensure_venv() {
    local stamp="$CT_VENV/.civictwin-pyproject.sha256" want have=""
    if [[ -n "${CIVICTWIN_VENV:-}" ]]; then
        [[ -x "$CT_VENV/bin/python" ]] || ct_die "CIVICTWIN_VENV=$CT_VENV has no bin/python"
        ct_step "using the venv at $CT_VENV as it is"
        export PYTHONPATH="$CT_ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
        return 0
    fi
    # shellcheck disable=SC2046  # word splitting of the package list is intended
    ct_ensure_packages $(ct_venv_packages)

    if ! { [[ -x "$CT_VENV/bin/python" ]] && "$CT_VENV/bin/python" -c '' 2>/dev/null; }; then
        "$CT_PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
            || ct_die "$CT_PYTHON is $("$CT_PYTHON" --version 2>&1); civictwin needs Python >= 3.11 (set PYTHON=...)"
        ct_step "creating virtualenv .venv"
        rm -rf "$CT_VENV"
        "$CT_PYTHON" -m venv "$CT_VENV"
    fi

    want="$(sha256sum "$CT_ROOT/pyproject.toml" | cut -d' ' -f1)"
    [[ -f "$stamp" ]] && have="$(<"$stamp")"
    if [[ "$want" == "$have" ]]; then
        ct_step "Python dependencies up to date"
        return 0
    fi
    ct_step "installing Python dependencies (pip install -e '.[dev]')"
    rm -f "$stamp"
    (cd "$CT_ROOT" && "$CT_VENV/bin/python" -m pip install --quiet -e '.[dev]')
    echo "$want" >"$stamp"
}

# ct_ensure_web: build the web map (web/ -> src/civictwin/web/static) with npm when its
# sources changed since the last build; `npm ci` only when the lock file changed.
ct_ensure_web() {
    local web="$CT_ROOT/web" out="$CT_ROOT/src/civictwin/web/static"
    local stamp="$out/.build.sha256" modules_stamp="$web/node_modules/.civictwin-lock.sha256"
    local want have="" lock
    # shellcheck disable=SC2046  # file names from git/find have no spaces here
    want="$(cd "$web" && cat package.json package-lock.json build.mjs tsconfig.json \
        $(find src -type f | LC_ALL=C sort) | sha256sum | cut -d' ' -f1)"
    [[ -f "$stamp" ]] && have="$(<"$stamp")"
    if [[ "$want" == "$have" && -f "$out/index.html" ]]; then
        ct_step "web map up to date"
        return 0
    fi
    lock="$(sha256sum "$web/package-lock.json" | cut -d' ' -f1)"
    if [[ ! -f "$modules_stamp" || "$(<"$modules_stamp")" != "$lock" ]]; then
        ct_step "installing the web map's npm packages (npm ci)"
        (cd "$web" && npm ci --no-audit --no-fund --loglevel=error) || ct_die "npm ci failed in web/"
        echo "$lock" >"$modules_stamp"
    fi
    ct_step "building the web map (npm run build)"
    (cd "$web" && npm run --silent build) || ct_die "the web map build failed (cd web && npm run build)"
    echo "$want" >"$stamp"
}
