#!/bin/bash
# Runs chrooted in the installed system at the end of the Photon install
# (kickstart "postinstall"). Lays the appliance payload onto the root with its
# modes, creates the daemons' users and enables the services.
#
# Diagnostics: the installer keeps a postinstall's stderr only when the script
# fails and keeps its own log in its RAM disk, so every line printed here,
# errors included, goes to /var/log/appliance-install.log on the installed
# system, to the VM console (/dev/console) and, when the VM has a serial port
# that is not already the console, to ttyS0 as well. The last line is one
# marker, the same everywhere:
#     appliance-install: OK <name> <version>
#     appliance-install: FAILED <step>[; <step>...]
# A failed install also leaves the reason in /etc/appliance/install-failed
# (repeated by the agent on the console banner) and in /etc/issue.
payload=/var/tmp/appliance-payload.tar
log=/var/log/appliance-install.log
failed_file=/etc/appliance/install-failed
release_file=/etc/appliance/release.json

say() { echo "appliance postinstall: $*"; }

# A serial port the VM really has (stty fails on a port without a UART) and
# that is not the kernel console already (then /dev/console reaches it).
serial_port() {
    local active=""
    read -r active < /sys/class/tty/console/active 2>/dev/null
    case " $active " in *" ttyS0 "*) return 1 ;; esac
    [ -c /dev/ttyS0 ] && stty -F /dev/ttyS0 115200 >/dev/null 2>&1
}

install_appliance() {
    local failures=()
    fail() { say "ERROR: $1 failed"; failures+=("$1"); }

    say "unpacking $payload"
    python3 - "$payload" <<'PYTHON' || fail "unpacking the appliance payload"
import sys
import tarfile

with tarfile.open(sys.argv[1]) as payload:
    payload.extractall("/", numeric_owner=True)
PYTHON
    rm -f "$payload"

    # keepalived runs its track script as this user (script_user in keepalived.conf).
    getent group keepalived_script >/dev/null || groupadd --system keepalived_script \
        || fail "creating group keepalived_script"
    id keepalived_script >/dev/null 2>&1 || useradd --system --no-create-home \
        --gid keepalived_script --shell /sbin/nologin keepalived_script || fail "creating user keepalived_script"
    # haproxy.cfg drops privileges to haproxy:haproxy.
    getent group haproxy >/dev/null || groupadd --system haproxy || fail "creating group haproxy"
    id haproxy >/dev/null 2>&1 || useradd --system --no-create-home \
        --gid haproxy --home-dir /var/lib/haproxy --shell /sbin/nologin haproxy || fail "creating user haproxy"
    mkdir -p /var/lib/haproxy || fail "creating /var/lib/haproxy"

    for unit in appliance-agent.service appliance-report.service appliance-report.path haproxy.service keepalived.service iptables.service vmtoolsd.service \
        appliance-selftest.service; do
        systemctl enable "$unit" || fail "enabling $unit"
    done

    # The agent owns the network, hostname and passwords; cloud-init would fight it.
    { mkdir -p /etc/cloud && touch /etc/cloud/cloud-init.disabled; } || fail "disabling cloud-init"

    local name_version
    name_version=$(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(d["appliance"], d["version"])' \
        "$release_file") || fail "reading $release_file"

    if [ ${#failures[@]} -eq 0 ]; then
        rm -f "$failed_file"
        echo "appliance-install: OK $name_version"
        return 0
    fi
    local reason
    reason=$(printf '%s; ' "${failures[@]}")
    reason=${reason%; }
    mkdir -p "${failed_file%/*}"
    echo "$reason" > "$failed_file"
    printf '%s\n\n' "appliance-install: FAILED $reason (see $log)" > /etc/issue
    echo "appliance-install: FAILED $reason"
    return 1
}

# Generalize for cloning: only in a build-time install (build-appliance
# --preinstall sets APPLIANCE_GENERALIZE=yes at the top of this script), whose
# disk becomes every deployed VM's. The system has never booted, so this removes
# what the install itself made: identity, keys, the agent's state, logs, leases,
# the installer's leftovers. The build reads the package list and the outcome
# from the serial port (builder/preinstall.py):
#     appliance-generalize: PACKAGE <name> <version>   (one per installed package)
#     appliance-generalize: OK | FAILED <step>
generalize_for_cloning() {
    local failed="" packages
    if command -v rpm >/dev/null 2>&1; then
        packages=$(rpm -qa --qf '%{NAME} %{VERSION}-%{RELEASE}.%{ARCH}\n') || failed="listing the installed packages"
    else  # a non-RPM stand-in root (tests)
        packages=$(dpkg-query -W -f '${Package} ${Version}\n') || failed="listing the installed packages"
    fi
    echo "$packages" | sort | while read -r name version; do
        [ -n "$name" ] && echo "appliance-generalize: PACKAGE $name $version"
    done
    # an empty machine-id (not a missing one) makes systemd generate a new one at first boot
    : > /etc/machine-id || failed="emptying /etc/machine-id"
    rm -f /var/lib/dbus/machine-id /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub \
        /var/lib/systemd/random-seed /var/lib/systemd/credential.secret
    rm -rf /var/lib/appliance-agent /var/lib/dhclient/* /var/lib/systemd/network/* /var/lib/NetworkManager/*.lease \
        /var/log/journal/* /var/cache/tdnf/* /var/tmp/* /root/.bash_history
    # logs emptied, not removed (daemons expect the files); the install's own log stays
    find /var/log -type f ! -name "${log##*/}" -exec truncate -s 0 {} + 2>/dev/null
    if [ -n "$failed" ]; then echo "appliance-generalize: FAILED $failed"; else echo "appliance-generalize: OK"; fi
}

mkdir -p "${log%/*}"
outputs=("$log")
[ -w /dev/console ] && outputs+=(/dev/console)
serial_port && outputs+=(/dev/ttyS0)
# stdout too: the installer's own log keeps a copy.
install_appliance 2>&1 | tee -a "${outputs[@]}"
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] && [ "${APPLIANCE_GENERALIZE:-}" = yes ] && generalize_for_cloning 2>&1 | tee -a "${outputs[@]}"
exit "$status"
