"""Real RPMs for tests, built with rpmbuild from a generated spec (fast, deterministic, no payload tools)."""

import os
import subprocess
import textwrap
from pathlib import Path


def build_rpm(
    workdir: Path,
    name: str,
    version: str = "1.0",
    release: str = "1",
    arch: str = "noarch",
    requires=(),
    provides=(),
    files=None,
    scripts=None,
    summary=None,
) -> Path:
    """Build `name` with rpmbuild under `workdir` and return the .rpm path.

    `files` maps absolute paths to their contents; `requires`/`provides`
    are dependency strings ("foo >= 1.0", "/bin/sh", "libx.so()(64bit)").
    Automatic dependency generation is off, so the header holds exactly
    what is asked for.
    """
    workdir = Path(workdir)
    top = workdir / "rpmbuild"
    for sub in ("SPECS", "BUILD", "BUILDROOT", "RPMS", "SOURCES", "SRPMS"):
        (top / sub).mkdir(parents=True, exist_ok=True)
    files = dict(files or {})
    install_lines = []
    file_lines = []
    for position, (path, content) in enumerate(sorted(files.items())):
        data = content.encode() if isinstance(content, str) else content
        source = top / "SOURCES" / f"{name}-{position}"
        source.write_bytes(data)
        install_lines.append(f"install -D -m 0755 {source} %{{buildroot}}{path}")
        file_lines.append(path)
    spec = textwrap.dedent(
        """\
        Name: {name}
        Version: {version}
        Release: {release}
        Summary: {summary}
        License: MIT
        URL: https://example.invalid/{name}
        {buildarch}
        AutoReqProv: no
        {requires}
        {provides}
        %global debug_package %{{nil}}
        %global __os_install_post %{{nil}}
        %global _build_id_links none

        %description
        Test fixture package {name}.

        %install
        mkdir -p %{{buildroot}}
        {install}

        %files
        {files}
        {scripts}
        %changelog
        * Mon Jan 01 2024 Fixture Builder <fixture@example.invalid> - {version}-{release}
        - Fixture release.
        """
    ).format(
        name=name,
        version=version,
        release=release,
        summary=summary or f"{name} test fixture",
        buildarch="BuildArch: noarch" if arch == "noarch" else "",
        requires="\n".join(f"Requires: {item}" for item in requires),
        provides="\n".join(f"Provides: {item}" for item in provides),
        install="\n".join(install_lines),
        files="\n".join(file_lines),
        scripts="\n".join(f"%{kind}\n{body}\n" for kind, body in (scripts or {}).items()),
    )
    spec_path = top / "SPECS" / f"{name}.spec"
    spec_path.write_text(spec)
    command = [
        "rpmbuild", "-bb", "--nodeps", "--quiet",
        "--define", f"_topdir {top}",
        "--define", "_buildhost fixture.example.invalid",
        "--define", "use_source_date_epoch_as_buildtime 1",
        "--define", "clamp_mtime_to_source_date_epoch 1",
        "--define", "_binary_payload w9.gzdio",
    ]
    if arch != "noarch":
        command += ["--target", arch]
    env = dict(os.environ, SOURCE_DATE_EPOCH="1704067200")
    result = subprocess.run(command + [str(spec_path)], capture_output=True, text=True, env=env, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"rpmbuild {name} failed: {result.stderr[-2000:]}")
    built = top / "RPMS" / arch / f"{name}-{version}-{release}.{arch}.rpm"
    if not built.is_file():
        raise RuntimeError(f"rpmbuild did not produce {built}")
    return built
