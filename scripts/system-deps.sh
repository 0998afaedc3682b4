#!/bin/sh
# Installs the Debian packages that the slow tests drive as private processes. Best effort: without
# root or apt the tests that need a package skip with the reason, and the rest still run.
#   prometheus-alertmanager                          tests/test_integration_alertmanager.py
#   icinga2                                          tests/test_integration_icinga.py
#   zabbix-server-pgsql zabbix-frontend-php php-cli
#   php-pgsql postgresql (initdb for a private cluster) tests/test_integration_zabbix.py
PKGS="prometheus-alertmanager icinga2 zabbix-server-pgsql zabbix-frontend-php php-cli php-pgsql postgresql chromium openssh-server openssh-client"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: not root or no apt-get; tests needing:$missing will skip" >&2
  exit 0
fi
echo "system-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
( apt-get install -y -q --no-install-recommends $missing || { apt-get update -q && apt-get install -y -q --no-install-recommends $missing; } ) >/tmp/responder-system-deps.log 2>&1 \
  || echo "system-deps: apt-get failed (see /tmp/responder-system-deps.log); dependent tests will skip" >&2
exit 0
