"""Real RPMs for tests, built by rpmbuild from a generated spec: fast, deterministic, no build tools needed.

Other test areas import build_rpm (tests/iso, tests/fetch); keep its
positional parameters as they are and add new ones keyword-only.
"""

import os
import subprocess
import textwrap
from pathlib import Path
from typing import Mapping, Sequence

SOURCE_DATE_EPOCH = "1704067200"  # 2024-01-01; build times and file mtimes are clamped to it
BUILDHOST = "fixture.example.invalid"
DEFAULT_CHANGELOG = (
    "* Mon Jan 01 2024 Fixture Builder <fixture@example.invalid> - {version}-{release}\n- Fixture release.\n"
)


def build_rpm(
    workdir: Path,
    name: str,
    version: str = "1.0",
    release: str = "1",
    arch: str = "noarch",
    requires: Sequence[str] = (),
    provides: Sequence[str] = (),
    files: Mapping[str, bytes | str] | None = None,
    scripts: Mapping[str, str] | None = None,
    summary: str | None = None,
    *,
    epoch: int | None = None,
    tags: Sequence[str] = (),
    dirs: Sequence[str] = (),
    ghosts: Sequence[str] = (),
    changelog: str | None = None,
) -> Path:
    """Build `name` with rpmbuild under `workdir` and return the .rpm's path.

    `files` maps absolute paths to their contents (installed mode 0755);
    `requires`/`provides` are dependency strings ("foo >= 1.0", "/bin/sh",
    "libx.so.1()(64bit)"); `scripts` maps scriptlet names ("pre", "post") to
    their bodies. Keyword-only extras: `epoch`; `tags`, raw spec lines such
    as "Recommends: foo" or "Requires(pre): /bin/sh"; `dirs` and `ghosts`,
    paths packaged as %dir and %ghost; `changelog`, the %changelog body.
    Automatic dependency generation is off, so the header holds exactly
    what is asked for, and the same arguments give the same bytes.
    """
    workdir = Path(workdir)
    top = workdir / "rpmbuild"
    for sub in ("SPECS", "BUILD", "BUILDROOT", "RPMS", "SOURCES", "SRPMS"):
        (top / sub).mkdir(parents=True, exist_ok=True)
    install_lines = []
    file_lines = []
    for position, (path, content) in enumerate(sorted((files or {}).items())):
        data = content.encode() if isinstance(content, str) else content
        source = top / "SOURCES" / f"{name}-{version}-{release}-{position}"
        source.write_bytes(data)
        install_lines.append(f"install -D -m 0755 {source} %{{buildroot}}{path}")
        file_lines.append(path)
    for path in dirs:
        install_lines.append(f"mkdir -p %{{buildroot}}{path}")
        file_lines.append(f"%dir {path}")
    for path in ghosts:
        file_lines.append(f"%ghost {path}")
    spec = textwrap.dedent(
        """\
        Name: {name}
        {epoch}
        Version: {version}
        Release: {release}
        Summary: {summary}
        License: MIT
        URL: https://example.invalid/{name}
        {buildarch}
        AutoReqProv: no
        {requires}
        {provides}
        {tags}
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
        """
    ).format(
        name=name,
        epoch=f"Epoch: {epoch}" if epoch is not None else "",
        version=version,
        release=release,
        summary=summary or f"{name} test fixture",
        buildarch="BuildArch: noarch" if arch == "noarch" else "",
        requires="\n".join(f"Requires: {item}" for item in requires),
        provides="\n".join(f"Provides: {item}" for item in provides),
        tags="\n".join(tags),
        install="\n".join(install_lines),
        files="\n".join(file_lines),
        scripts="\n".join(f"%{kind}\n{body}\n" for kind, body in (scripts or {}).items()),
    ) + (changelog if changelog is not None else DEFAULT_CHANGELOG.format(version=version, release=release))
    spec_path = top / "SPECS" / f"{name}-{version}-{release}.spec"
    spec_path.write_text(spec)
    command = [
        "rpmbuild", "-bb", "--nodeps", "--quiet",  # --nodeps: Debian's rpm has no rpmdb of build deps
        "--define", f"_topdir {top}",
        "--define", f"_buildhost {BUILDHOST}",
        "--define", "use_source_date_epoch_as_buildtime 1",
        "--define", "clamp_mtime_to_source_date_epoch 1",
        "--define", "_binary_payload w9.gzdio",
    ]
    if arch != "noarch":
        command += ["--target", arch]
    env = dict(os.environ, SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH, LC_ALL="C", TZ="UTC")
    result = subprocess.run(command + [str(spec_path)], capture_output=True, text=True, env=env, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"rpmbuild {name} failed: {result.stderr[-2000:]}")
    built = top / "RPMS" / arch / f"{name}-{version}-{release}.{arch}.rpm"
    if not built.is_file():
        raise RuntimeError(f"rpmbuild did not produce {built}")
    return built
