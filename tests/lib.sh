# Shared by the set-up and run scripts (source it). Debian packages that wait for another apt,
# and timed steps with a closing summary.

# apt_install [APT-OPTION...] PACKAGE...: installs what is missing. Another apt or dpkg holding
# the lock (unattended upgrades, a second set-up) is waited for, up to 15 minutes, not failed on.
apt_install() {
  local options=() packages=() p
  for p in "$@"; do
    case $p in -*) options+=("$p") ;; *) dpkg_installed "$p" || packages+=("$p") ;; esac
  done
  ((${#packages[@]})) || return 0
  echo "setup: installing ${packages[*]} from Debian"
  apt_locked_retry apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt_locked_retry apt-get install -y -qq \
    -o DPkg::Lock::Timeout=900 "${options[@]+"${options[@]}"}" "${packages[@]}" >/dev/null
}

dpkg_installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

# apt_locked_retry COMMAND...: runs COMMAND again while it fails only because apt's lists or
# dpkg's lock is held (apt-get update takes no lock timeout of its own).
apt_locked_retry() {
  local deadline=$((SECONDS + 900)) err
  err=$(mktemp)
  until "$@" 2>"$err"; do
    if grep -q 'Could not get lock\|Unable to acquire\|is another process using it' "$err" &&
      ((SECONDS < deadline)); then
      echo "setup: waiting for another package manager to finish ($(head -1 "$err"))"
      sleep 10
      continue
    fi
    cat "$err" >&2
    rm -f "$err"
    return 1
  done
  grep -v 'unsandboxed as root' "$err" >&2 || true
  rm -f "$err"
}

# step NAME COMMAND...: runs one step with its start time and duration; the durations are kept
# for step_summary. A failing step fails the caller (set -e) after its line is printed.
STEP_LINES=()
step() {
  local name=$1 start=$SECONDS rc=0
  shift
  echo "== [$(date -u +%H:%M:%S)] $name"
  "$@" || rc=$?
  local took=$((SECONDS - start))
  STEP_LINES+=("$(printf '%-60s %4dm%02ds  %s' "$name" $((took / 60)) $((took % 60)) \
    "$([ $rc = 0 ] && echo ok || echo "FAILED (exit $rc)")")")
  echo "== [$(date -u +%H:%M:%S)] $name: $([ $rc = 0 ] && echo ok || echo "FAILED (exit $rc)") in ${took}s"
  if [ $rc != 0 ]; then
    step_summary
    return $rc
  fi
}

step_summary() {
  echo
  echo "== steps"
  printf '%s\n' "${STEP_LINES[@]}"
  echo "== total $((SECONDS / 60))m$((SECONDS % 60))s"
}
