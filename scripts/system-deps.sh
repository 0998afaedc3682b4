#!/bin/sh
# Installs the Debian packages that the slow tests drive as private processes (each test starts its
# daemon itself, under a temporary directory), and leaves no system service of theirs running or
# enabled. Best effort: without root or apt it installs nothing, and the tests that need a package
# skip (pytest names them in one line at the end). `make test` never runs this; `make system-deps` does.
#   prometheus-alertmanager                          tests/test_integration_alertmanager.py
#   icinga2                                          tests/test_integration_icinga.py
#   zabbix-server-pgsql zabbix-frontend-php php-cli
#   php-pgsql postgresql (initdb for a private cluster) tests/test_integration_zabbix.py
#   chromium                                         tests/test_pages.py, tests/test_auth.py
#   wrk                                              bench/ingest.py (`make bench`; skipped without it)
PKGS="prometheus prometheus-alertmanager icinga2 zabbix-server-pgsql zabbix-frontend-php php-cli php-pgsql postgresql chromium openssh-server openssh-client wrk"
R=${SYSTEM_DEPS_ROOT:-}  # a root to work under instead of / (tests/test_system_deps.py), normally empty
POLICY=$R/usr/sbin/policy-rc.d
LOG=${SYSTEM_DEPS_LOG:-/tmp/responder-system-deps.log}

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: not root or no apt-get; tests needing:$missing will skip" >&2
  exit 0
fi

# What is enabled before the install: only what the install adds is turned off afterwards, so a service
# the machine already ran (its own sshd, say) is left as it was.
enabled() {
  find "$R/etc/systemd/system" -path '*.wants/*' 2>/dev/null | sed 's|.*/||' | sort -u
  ls "$R/etc/rc2.d" "$R/etc/rc3.d" "$R/etc/rc4.d" "$R/etc/rc5.d" 2>/dev/null | sed -n 's/^S[0-9]*//p' | sed 's/^/sysv:/' \
    | sort -u
}
before=$(enabled)

# Debian's maintainer scripts start a package's service as it is installed (icinga2, zabbix-server,
# apache2, postgresql, ssh). A policy-rc.d answering 101 ("action forbidden") stops that for the
# duration; one the machine had already is put back afterwards.
saved=""
if [ -e "$POLICY" ]; then
  saved="$POLICY.responder-saved.$$"
  mv "$POLICY" "$saved"
fi
restore() {
  rm -f "$POLICY"
  if [ -n "$saved" ]; then mv "$saved" "$POLICY"; fi
}
trap restore EXIT
trap 'exit 130' INT TERM
printf '#!/bin/sh\n# written by Responder scripts/system-deps.sh for the duration of an install\nexit 101\n' >"$POLICY"
chmod 755 "$POLICY"

echo "system-deps: installing$missing (no service will be started or enabled; log: $LOG)" >&2
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086  # $missing is a list of package names
( apt-get install -y -q --no-install-recommends $missing || { apt-get update -q && apt-get install -y -q --no-install-recommends $missing; } ) >"$LOG" 2>&1 \
  || echo "system-deps: apt-get failed (see $LOG); dependent tests will skip" >&2

# Installing enables the packages' services for the next boot (and, with systemd running, may have
# started them despite the policy): turn off each one this install added.
booted=""
[ -d "$R/run/systemd/system" ] && booted=yes
for unit in $(enabled); do
  if printf '%s\n' "$before" | grep -qxF "$unit"; then
    continue
  fi
  case "$unit" in
    sysv:*)
      name=${unit#sysv:}
      if command -v update-rc.d >/dev/null 2>&1; then
        update-rc.d "$name" disable >>"$LOG" 2>&1 && echo "system-deps: disabled $name (sysv)" >&2
      fi
      if [ -z "$booted" ] && [ -x "$R/etc/init.d/$name" ]; then
        "$R/etc/init.d/$name" stop >>"$LOG" 2>&1 || true
      fi
      ;;
    *.service|*.socket|*.timer)
      if command -v systemctl >/dev/null 2>&1; then
        if [ -n "$booted" ]; then
          systemctl disable --now "$unit" >>"$LOG" 2>&1 && echo "system-deps: disabled and stopped $unit" >&2
        else
          systemctl disable "$unit" >>"$LOG" 2>&1 && echo "system-deps: disabled $unit" >&2
        fi
      fi
      ;;
  esac
done
exit 0
