#!/bin/bash
# Runs chrooted in the installed system at the end of the Photon install
# (kickstart "postinstall"). Lays the appliance payload onto the root with its
# modes, creates the daemons' users and enables the services. Photon ignores
# a postinstall's exit status, so every failure is printed to the console.
payload=/var/tmp/appliance-payload.tar
say() { echo "appliance postinstall: $*"; }

if ! python3 - "$payload" <<'PYTHON'
import sys
import tarfile

with tarfile.open(sys.argv[1]) as payload:
    payload.extractall("/", numeric_owner=True)
PYTHON
then
    say "ERROR: could not unpack $payload; the appliance agent is not installed"
fi
rm -f "$payload"

# keepalived runs its track script as this user (script_user in keepalived.conf).
getent group keepalived_script >/dev/null || groupadd --system keepalived_script
id keepalived_script >/dev/null 2>&1 || useradd --system --no-create-home \
    --gid keepalived_script --shell /sbin/nologin keepalived_script
# haproxy.cfg drops privileges to haproxy:haproxy.
getent group haproxy >/dev/null || groupadd --system haproxy
id haproxy >/dev/null 2>&1 || useradd --system --no-create-home \
    --gid haproxy --home-dir /var/lib/haproxy --shell /sbin/nologin haproxy
mkdir -p /var/lib/haproxy

for unit in appliance-agent.service appliance-report.service appliance-report.path haproxy.service keepalived.service iptables.service vmtoolsd.service; do
    systemctl enable "$unit" || say "ERROR: could not enable $unit"
done

# The agent owns the network, hostname and passwords; cloud-init would fight it.
mkdir -p /etc/cloud
touch /etc/cloud/cloud-init.disabled
say "done"
