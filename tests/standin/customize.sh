#!/bin/sh
# Run by mmdebstrap's customize hook: customize.sh ROOT CONTRACT_DIR.
# Lays the Photon contract files over Debian's and makes the daemons' start
# state Photon's (installed, not enabled; the appliance's postinstall enables them).
set -eu
root="$1"
contract="$2"
cp -a "$contract/." "$root/"
chmod 0755 "$root/etc/systemd/scripts/iptables" "$root/etc/systemd/scripts/iptables.stop"
# Photon's haproxy package creates no user (the appliance's postinstall does);
# Debian's does: remove it so the postinstall's own useradd is what runs.
chroot "$root" userdel haproxy 2>/dev/null || true
chroot "$root" groupdel haproxy 2>/dev/null || true
rm -f "$root/etc/default/haproxy" "$root/etc/default/keepalived"
# Photon's open-vm-tools units are vmtoolsd.service and vgauthd.service (the
# postinstall enables vmtoolsd.service); Debian's are open-vm-tools.service
# with vmtoolsd.service as an alias, which systemctl enable refuses.
chroot "$root" systemctl disable open-vm-tools.service vgauth.service >/dev/null 2>&1 || true
rm -f "$root/usr/lib/systemd/system/open-vm-tools.service" "$root/usr/lib/systemd/system/vgauth.service"
# Photon presets leave haproxy and keepalived disabled; networkd is on.
chroot "$root" systemctl disable haproxy.service keepalived.service >/dev/null 2>&1 || true
chroot "$root" systemctl enable systemd-networkd.service iptables.service >/dev/null
# Test-only observation aid (not Photon): a getty on the serial port shows
# the console banner the agent writes (/etc/issue) to whoever reads ttyS0.
chroot "$root" systemctl enable serial-getty@ttyS0.service >/dev/null
# Photon's boot directory is /boot/grub2; Debian's grub-install writes to
# <boot-directory>/grub, so that name points at grub2.
mkdir -p "$root/boot/grub2"
ln -sfn grub2 "$root/boot/grub"
# The kernel package's boot entry, as Photon's linux package writes /boot/photon.cfg.
kernel="$(cd "$root/boot" && ls vmlinuz-* | sort | tail -n 1)"
version="${kernel#vmlinuz-}"
cat > "$root/boot/photon.cfg" <<CFG
# GRUB Environment Block
photon_cmdline=init=/lib/systemd/systemd ro loglevel=3 quiet
photon_linux=vmlinuz-$version
photon_initrd=initrd.img-$version
CFG
# Photon's grub2-efi-image package puts the EFI loader on the ESP at the
# removable-media path; a GRUB with Photon's prefix and its modules built in
# (the ESP has no module directory). Photon's is shim + grubx64.efi; no
# Secure Boot here, so GRUB itself.
mkdir -p "$root/boot/efi/EFI/BOOT"
chroot "$root" grub-mkimage -O x86_64-efi -p /boot/grub2 -o /boot/efi/EFI/BOOT/bootx64.efi \
    normal search search_fs_uuid search_label configfile linux loadenv test echo ext2 fat \
    part_gpt part_msdos gzio all_video efi_gop gfxterm font png tga serial terminal boot \
    chain reboot halt
# No traces of the build host.
rm -f "$root/etc/ssh/ssh_host_"*
printf 'photon\n' > "$root/etc/hostname"
: > "$root/etc/machine-id"
