#!/usr/bin/env bash
# stack/install.sh — idempotent installer for the real servers the tests and developers use.
#
#   stack/install.sh [graphite] [statsd] [redis] [rabbitmq] [relay]     (no argument = all five)
#
# graphite  carbon + whisper + graphite-web + gunicorn, pinned, in a venv of its own
#           ($QUEUEDASH_GRAPHITE_VENV, default $QUEUEDASH_STACK_DIR/graphite-venv), plus libcairo2
# statsd    etsy statsd@0.9.0 from npm into $QUEUEDASH_STATSD_DIR (default $QUEUEDASH_STACK_DIR/statsd)
# redis     Debian's redis-server
# rabbitmq  Debian's rabbitmq-server
# relay     Debian's carbon-c-relay (the fleet tests' consistent-hash relay in front of two carbon-caches)
#
# QUEUEDASH_STACK_DIR defaults to <repo>/.stack. UV=/path/to/uv (the make targets pass the project
# venv's) makes the Graphite venv with uv instead of venv + pip: same packages, a fraction of the time.
# Nothing is started here: the stack/ modules start the servers on free loopback ports. Never prompts. Debian packages are only installed when running as
# root; otherwise the script says what to install and goes on (tests needing it skip locally, fail in CI).
# Prints one line per component: "<name>: present ..." or "<name>: installed ... in N s".
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK_DIR="${QUEUEDASH_STACK_DIR:-$REPO_ROOT/.stack}"
GRAPHITE_VENV="${QUEUEDASH_GRAPHITE_VENV:-$STACK_DIR/graphite-venv}"
STATSD_DIR="${QUEUEDASH_STATSD_DIR:-$STACK_DIR/statsd}"
RABBITMQ_BIN="${QUEUEDASH_RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}"
PYTHON="${PYTHON:-python3}"
UV="${UV:-}"
# Versions tested on Debian 12 / CPython 3.11 (see shared notes). graphite-web 1.1.10 pins Django<3.1.
GRAPHITE_PIP_PKGS="${GRAPHITE_PIP_PKGS:-whisper==1.1.10 carbon==1.1.10 graphite-web==1.1.10 gunicorn==27.0.1}"
STATSD_NPM_PKG="${STATSD_NPM_PKG:-statsd@0.9.0}"

COMPONENTS=(graphite statsd redis rabbitmq relay)
SELECTED=("$@")
[[ ${#SELECTED[@]} -eq 0 ]] && SELECTED=("${COMPONENTS[@]}")
for c in "${SELECTED[@]}"; do
  [[ " ${COMPONENTS[*]} " == *" $c "* ]] || { echo "install.sh: unknown component '$c' (choose from: ${COMPONENTS[*]})" >&2; exit 2; }
done

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
elapsed() { local d=$(( $(now_ms) - $1 )); printf '%d.%01ds' $((d / 1000)) $((d % 1000 / 100)); }
is_root() { [[ $(id -u) -eq 0 ]]; }
have() { command -v "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------- Debian packages
APT_UPDATED=0
# apt_install PKG... — root only; `apt-get update` at most once per run.
apt_install() {
  if [[ $APT_UPDATED -eq 0 ]]; then
    apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  # Without a policy-rc.d that denies service starts (any machine but a Docker-style image),
  # installing redis-server/rabbitmq-server would start system daemons on 6379/5672/4369.
  # We run our own on free ports, so forbid the auto-start for the duration of the install.
  local guard=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# temporary, from queuedash stack/install.sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    guard=1
  fi
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null || rc=$?
  [[ $guard -eq 1 ]] && rm -f /usr/sbin/policy-rc.d
  return $rc
}

# need_deb NAME TEST-COMMAND PKG... — install PKG... if TEST-COMMAND fails; one status line.
need_deb() {
  local name=$1 test_cmd=$2; shift 2
  if eval "$test_cmd"; then
    echo "$name: present"
  elif is_root; then
    local t0; t0=$(now_ms)
    apt_install "$@"
    eval "$test_cmd" || { echo "$name: apt-get install $* did not provide it" >&2; exit 1; }
    echo "$name: installed ($*) in $(elapsed "$t0")"
  else
    echo "$name: MISSING — not root, so not installed; run: sudo apt-get install -y --no-install-recommends $*"
  fi
}

# ldconfig lives in /sbin, often not on a non-root PATH: look at the usual library dirs first.
has_libcairo() {
  compgen -G '/usr/lib/*/libcairo.so.2' >/dev/null || compgen -G '/usr/lib*/libcairo.so.2' >/dev/null ||
    { PATH="$PATH:/sbin:/usr/sbin" ldconfig -p 2>/dev/null | grep -q 'libcairo\.so\.2'; }
}
# python3 -m venv needs ensurepip, which stock Debian ships separately (python3-venv).
has_venv_module() { "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; }

# ---------------------------------------------------------------- graphite
graphite_ok() {
  [[ -x "$GRAPHITE_VENV/bin/carbon-cache.py" && -x "$GRAPHITE_VENV/bin/django-admin" ]] || return 1
  # The marker records the package list, so changing a pin rebuilds the venv.
  [[ "$(cat "$GRAPHITE_VENV/.queuedash-installed" 2>/dev/null)" == "$GRAPHITE_PIP_PKGS" ]] || return 1
  "$GRAPHITE_VENV/bin/python" -c 'import carbon, whisper, graphite, django, gunicorn, twisted' >/dev/null 2>&1
}

graphite_debs() {
  # graphite-web imports cairocffi (render/views.py) even for JSON answers; it dlopens libcairo.so.2.
  need_deb libcairo2 has_libcairo libcairo2
  [[ -x "$UV" ]] || has_venv_module || need_deb python3-venv has_venv_module python3-venv
}

install_graphite() {
  if graphite_ok; then
    echo "graphite: present ($GRAPHITE_VENV)"
    return
  fi
  local t0; t0=$(now_ms)
  rm -rf "$GRAPHITE_VENV"          # missing or broken: start over (a half-built venv is not repairable)
  mkdir -p "$(dirname "$GRAPHITE_VENV")"
  # GRAPHITE_NO_PREFIX: otherwise carbon's and graphite-web's setup.py install under /opt/graphite.
  # carbon, graphite-web, whisper and txAMQP are sdists only, so wheels are built: most of the time
  # (uv builds them in parallel). --compile-bytecode, as pip does: else every server start compiles.
  # shellcheck disable=SC2086  # word splitting of the package list is intended
  if [[ -x "$UV" ]]; then
    "$UV" venv --quiet --python "$PYTHON" "$GRAPHITE_VENV"
    GRAPHITE_NO_PREFIX=True "$UV" pip install --quiet --compile-bytecode --python "$GRAPHITE_VENV/bin/python" $GRAPHITE_PIP_PKGS
  else
    "$PYTHON" -m venv "$GRAPHITE_VENV"
    GRAPHITE_NO_PREFIX=True "$GRAPHITE_VENV/bin/pip" install -q --disable-pip-version-check $GRAPHITE_PIP_PKGS
  fi
  echo "$GRAPHITE_PIP_PKGS" >"$GRAPHITE_VENV/.queuedash-installed"
  graphite_ok || { echo "graphite: venv $GRAPHITE_VENV built but imports fail" >&2; exit 1; }
  echo "graphite: installed ($GRAPHITE_PIP_PKGS) into $GRAPHITE_VENV in $(elapsed "$t0")"
}

# ---------------------------------------------------------------- statsd
statsd_ok() {
  [[ -f "$STATSD_DIR/node_modules/statsd/stats.js" ]] || return 1
  local want=${STATSD_NPM_PKG##*@}
  grep -q "\"version\": *\"$want\"" "$STATSD_DIR/node_modules/statsd/package.json" 2>/dev/null
}

statsd_debs() {
  need_deb node 'have node && have npm' nodejs npm
}

install_statsd() {
  if statsd_ok; then
    echo "statsd: present ($STATSD_DIR)"
    return
  fi
  if ! have npm; then
    echo "statsd: MISSING — needs node and npm (apt-get install -y nodejs npm)"
    return
  fi
  local t0; t0=$(now_ms)
  mkdir -p "$STATSD_DIR"
  # A package.json of its own anchors npm here; otherwise npm walks up to the nearest enclosing
  # package.json/node_modules and may install somewhere else.
  [[ -f "$STATSD_DIR/package.json" ]] || echo '{"name": "queuedash-statsd", "private": true}' >"$STATSD_DIR/package.json"
  # npm warns that modern-syslog's install script was skipped: only the optional syslog backend.
  npm install --prefix "$STATSD_DIR" --no-audit --no-fund --loglevel=error "$STATSD_NPM_PKG" >/dev/null
  statsd_ok || { echo "statsd: npm install $STATSD_NPM_PKG did not produce stats.js" >&2; exit 1; }
  echo "statsd: installed ($STATSD_NPM_PKG) into $STATSD_DIR in $(elapsed "$t0")"
}

# ---------------------------------------------------------------- main
# Two concurrent runs (e.g. `make -j`) would build the same venv at once: serialise them.
mkdir -p "$STACK_DIR"
if have flock; then
  exec 9>"$STACK_DIR/.install.lock"
  flock 9
fi

T0=$(now_ms)
# Debian packages first, one apt-get at a time; then the Graphite venv and npm statsd, the long
# parts (downloads, sdist builds), side by side.
for c in "${SELECTED[@]}"; do
  case $c in
    graphite) graphite_debs ;;
    statsd) statsd_debs ;;
    redis) need_deb redis 'have redis-server' redis-server ;;
    rabbitmq) need_deb rabbitmq "[[ -x '$RABBITMQ_BIN/rabbitmq-server' ]]" rabbitmq-server ;;
    relay) need_deb relay 'have "${QUEUEDASH_CARBON_C_RELAY:-carbon-c-relay}"' carbon-c-relay ;;
  esac
done
BUILDS=()
for c in "${SELECTED[@]}"; do
  case $c in
    graphite) install_graphite & BUILDS+=($!) ;;
    statsd) install_statsd & BUILDS+=($!) ;;
  esac
done
FAILED=0
for pid in "${BUILDS[@]}"; do
  wait "$pid" || FAILED=1
done
[[ $FAILED -eq 0 ]] || { echo "stack/install.sh: failed after $(elapsed "$T0")" >&2; exit 1; }
echo "stack/install.sh: done in $(elapsed "$T0")"
