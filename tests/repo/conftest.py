"""Real RPMs (rpmbuild) shared by the repository tests, built once per session."""

import shutil

import pytest

from .rpmfixtures import build_rpm


@pytest.fixture(scope="session")
def rpms(tmp_path_factory):
    """A small repository's worth of RPMs exercising file, versioned and library dependencies."""
    if shutil.which("rpmbuild") is None:
        pytest.skip("needs rpmbuild (installed by scripts/test)")
    workdir = tmp_path_factory.mktemp("rpms")
    return {
        "bash": build_rpm(workdir, "bash", "5.2.15", "1.ph5", arch="x86_64",
                          files={"/bin/bash": "#!x\n", "/bin/sh": "#!x\n", "/etc/bashrc": "# rc\n"}),
        "libnl": build_rpm(workdir, "libnl", "3.7.0", "1.ph5", arch="x86_64",
                           provides=["libnl-3.so.200()(64bit)"]),
        "net-snmp": build_rpm(workdir, "net-snmp", "5.9.4", "2.ph5", arch="x86_64", requires=["perl(Carp)"]),
        "perl": build_rpm(workdir, "perl", "5.36.0", "1.ph5", arch="x86_64", provides=["perl(Carp) = 1.52"]),
        "keepalived": build_rpm(
            workdir, "keepalived", "2.2.7", "3.ph5", arch="x86_64",
            requires=["/bin/sh", "libnl-3.so.200()(64bit)", "net-snmp >= 5.9", "systemd"],
            files={"/usr/sbin/keepalived": "#!x\n", "/etc/keepalived/keepalived.conf": "# conf\n"},
            scripts={"post": "/bin/true"},
        ),
        "systemd": build_rpm(workdir, "systemd", "253.12", "1.ph5", arch="x86_64"),
        "old-tool": build_rpm(workdir, "old-tool", "1.0~rc1", "1", requires=["net-snmp >= 6.0"]),
    }
