"""Honest stand-ins for a Photon OS installer ISO and the system it installs.

CI has no real Photon ISO, so these fixtures reproduce the boundaries the
appliance relies on (see README.md here for exactly which, and what only a
real ISO proves):

    from tests.standin import standin_root, standin_installer_iso

    root = standin_root()                     # Path of a cached tar (mmdebstrap, ~3 min once)
    iso = standin_installer_iso(tmp, root)    # Path of a Photon 5.0-like installer ISO

standin_root(cache=None, mirror=None) -> Path
    The Photon stand-in root as an uncompressed tarball: Debian 12 with
    systemd(-networkd), python3 + jinja2, haproxy, keepalived, iptables,
    iproute2, a kernel, GRUB for BIOS and EFI, and Photon's contract files
    (iptables.service + /etc/systemd/scripts/ip4save, 99-dhcp-en.network,
    Photon-like haproxy/keepalived units, /boot/photon.cfg, the EFI loader
    at the ESP's removable path). Cached under $STANDIN_CACHE or
    $XDG_CACHE_HOME/photon-appliance-builder-tests (~/.cache/...), named by
    the digest of its recipe.

standin_installer_iso(workdir, root, rpms=None, cache=None) -> Path
    A Photon 5.0 installer ISO layout (tests/iso/fixtures.py) whose initrd
    boots like a stock one (systemd, autologin gettys, the launcher's rule)
    into a stand-in photon-installer that really installs onto the
    kickstart's disk: partitions, file systems, the system from
    /standin/root.tar, additional_files, GRUB (BIOS and EFI), fstab,
    postinstall in a chroot, eject, reboot. `rpms` default to
    standin_rpms(): empty RPMs named like the default profile's packages
    (the installer checks the kickstart's package names against the
    CD's repodata, as tdnf would refuse a missing one).

tests/standin/qemu.py boots VMs for this package's own test until builder/vm/
exists.
"""

from .iso import standin_installer_iso, standin_rpms
from .root import standin_root

__all__ = ["standin_root", "standin_installer_iso", "standin_rpms"]
