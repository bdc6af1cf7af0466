#!/usr/bin/env bash
# JupyterHub for a room on one Debian/Ubuntu server: run as root from a labkit checkout,
#   sudo bash workshop/install.sh
# It installs (again: each run brings the venv up to this checkout, and changes nothing else twice)
#   /opt/labkit-hub            a venv readable by every learner: labkit with jupyterlab, jupyterhub and the
#                              first-use authenticator (pyproject's [workshop] extra)
#   /opt/labkit-hub/course     the course every learner gets a copy of at their first sign-in
#   /opt/labkit-hub/etc/jupyterhub_config.py   this folder's config
#   configurable-http-proxy    from npm (Debian's nodejs and npm when missing; version 4 on Node < 20)
#   /etc/systemd/system/labkit-hub.service     where systemd runs; not started: it prints how
# kubectl is optional (the course's `!kubectl` cells need one on PATH: install it as usual).
set -euo pipefail
cd "$(dirname "$0")/.."
HUB=${LABKIT_HUB:-/opt/labkit-hub}
[ "$(id -u)" = 0 ] || { echo "run as root: it creates learners' accounts and installs to $HUB" >&2; exit 1; }
umask 022

need=()
dpkg-query -W -f='${Status}' python3-venv 2>/dev/null | grep -q "ok installed" || need+=(python3-venv)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
if ((${#need[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Learners' servers run the venv's interpreter as the learners: it must be one every account can run
# (Debian's), not one under /root (pyenv, a root-only build), whose venv would fail each spawn with
# "Permission denied: 'jupyterhub-singleuser'". LABKIT_HUB_PYTHON names another.
PYTHON=${LABKIT_HUB_PYTHON:-/usr/bin/python3}
runnable_by_all() { runuser -u nobody -- test -x "$(readlink -f "$1")"; }
runnable_by_all "$PYTHON" || { echo "$PYTHON ($(readlink -f "$PYTHON")) cannot be run by other accounts: set LABKIT_HUB_PYTHON to a Python 3.11+ that can" >&2; exit 1; }
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "labkit needs Python 3.11 or newer: $("$PYTHON" -V)" >&2; exit 1; }

if [ -e "$HUB/bin/python" ] && ! runnable_by_all "$HUB/bin/python"; then rm -rf "$HUB"; fi  # made from a root-only Python
[ -x "$HUB/bin/python" ] || "$PYTHON" -m venv "$HUB"
log=$(mktemp)
# labkit from this checkout, not editable: the venv stands alone
if ! { "$HUB/bin/pip" install -q --upgrade pip && "$HUB/bin/pip" install -q ".[workshop]"; } >"$log" 2>&1; then
  tail -30 "$log"; echo "pip could not install into $HUB (above: the end of $log)" >&2; exit 1
fi
rm -f "$log"
if ! command -v configurable-http-proxy >/dev/null 2>&1; then
  # Version 5 wants Node 20+; Debian 12's and Ubuntu 24.04's Node is 18: version 4 there (the hub runs with either)
  if [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ]; then chp=configurable-http-proxy; else chp=configurable-http-proxy@4; fi
  npm install -g -s "$chp"
fi

rm -rf "$HUB/course.new" && cp -r course "$HUB/course.new" && rm -rf "$HUB/course" && mv "$HUB/course.new" "$HUB/course"
install -D -m 644 workshop/jupyterhub_config.py "$HUB/etc/jupyterhub_config.py"
echo "installed to $HUB: $("$HUB/bin/jupyterhub" --version 2>/dev/null | tail -1) with configurable-http-proxy $(configurable-http-proxy --version)"

start="$HUB/bin/jupyterhub -f $HUB/etc/jupyterhub_config.py"
if [ -d /run/systemd/system ]; then
  cat >/etc/systemd/system/labkit-hub.service <<EOF
[Unit]
Description=JupyterHub for a labkit workshop
After=network.target

[Service]
User=root
Environment=PATH=$HUB/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WorkingDirectory=/var/lib/labkit-hub
StateDirectory=labkit-hub
ExecStart=$start
Restart=on-failure

[Install]
WantedBy=multi-user.target
EOF
  systemctl daemon-reload
  echo "start it: systemctl enable --now labkit-hub; then learners open http://$(hostname):8000 and sign in"
else
  echo "no systemd here; start it: mkdir -p /var/lib/labkit-hub && cd /var/lib/labkit-hub && PATH=$HUB/bin:\$PATH $start"
fi
