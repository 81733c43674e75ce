"""Hand-built images for the waste, gate, diff and render tests (no reader involved)."""

from __future__ import annotations

from dockwright.inspect.model import FileKind, FileRecord, ImageContents, LayerRecord, Package

MB = 1_000_000


def file(path: str, size: int = 0, **fields: object) -> FileRecord:
    """A regular file of the merged filesystem."""
    return FileRecord(path=path, kind=FileKind.FILE, size=size, **fields)  # type: ignore[arg-type]


def directory(path: str, **fields: object) -> FileRecord:
    """A directory of the merged filesystem."""
    return FileRecord(path=path, kind=FileKind.DIR, mode=0o755, **fields)  # type: ignore[arg-type]


def symlink(path: str, target: str) -> FileRecord:
    """A symlink of the merged filesystem."""
    return FileRecord(path=path, kind=FileKind.SYMLINK, link=target, mode=0o777)


def layer(index: int, **fields: int | str) -> LayerRecord:
    """A layer record with a digest derived from its index."""
    defaults: dict[str, int | str] = {
        "digest": f"sha256:{index:02d}" + "f" * 62,
        "diff_id": f"sha256:{index + 10:02d}" + "e" * 62,
        "size": 0,
        "uncompressed_size": 0,
    }
    return LayerRecord(index=index, **{**defaults, **fields})  # type: ignore[arg-type]


def image(
    files: list[FileRecord],
    layers: tuple[LayerRecord, ...] = (),
    *,
    config: dict[str, object] | None = None,
    reference: str = "example.test/app:1",
) -> ImageContents:
    """An image holding ``files`` as its merged filesystem."""
    return ImageContents(
        reference=reference,
        manifest_digest="sha256:" + "ab" * 32,
        config=config if config is not None else {},
        layers=layers,
        files={record.path: record for record in files},
        contents={},
        versions={},
    )


def deb(name: str, version: str, *files: str, **fields: object) -> Package:
    """A Debian package owning ``files``."""
    return Package(
        name=name,
        version=version,
        type="deb",
        purl=f"pkg:deb/debian/{name}@{version}?arch=amd64",
        architecture="amd64",
        files=files,
        **fields,  # type: ignore[arg-type]
    )


def pypi(name: str, version: str, *files: str, **fields: object) -> Package:
    """A Python package owning ``files``."""
    return Package(
        name=name,
        version=version,
        type="pypi",
        purl=f"pkg:pypi/{name.lower()}@{version}",
        files=files,
        **fields,  # type: ignore[arg-type]
    )


SITE = "usr/local/lib/python3.11/site-packages"

# Layer 0 writes app/data.bin (10 MB) and tmp/build.tar (5 MB); layer 1 rewrites app/data.bin;
# layer 2 deletes tmp/build.tar. Reclaimable: 10 MB + 5 MB, charged to layer 0.
LAYERS = (
    layer(
        0, size=40 * MB, uncompressed_size=95 * MB, files=40, files_bytes=90 * MB, overwritten_bytes=15 * MB
    ),
    layer(
        1, size=4 * MB, uncompressed_size=11 * MB, files=1, files_bytes=10 * MB, created_by="COPY data.bin"
    ),
    layer(
        2, size=1000, uncompressed_size=2048, files=0, files_bytes=0, deleted=1, created_by="RUN rm build.tar"
    ),
)


def bloated() -> tuple[ImageContents, list[Package]]:
    """An image with gcc, pytest, an apt cache, docs, locales, tests and layering waste."""
    files = [
        symlink("bin", "usr/bin"),
        directory("usr"),
        directory("usr/bin"),
        file("usr/bin/bash", 1 * MB),
        file("usr/bin/gcc-12", 12 * MB),
        file("usr/bin/make", 250_000),
        file("usr/lib/gcc/x86_64-linux-gnu/12/cc1", 30 * MB),
        file("usr/share/doc/gcc-12/changelog.Debian.gz", 100_000),
        file("usr/lib/x86_64-linux-gnu/libgcc_s.so.1", 100_000),
        file("usr/share/doc/gcc-12-base/copyright", 5_000),
        file("usr/share/doc/bash/NEWS.gz", 300_000),
        file("usr/share/doc/bash/copyright", 10_000),
        file("usr/share/man/man1/bash.1.gz", 90_000),
        file("usr/share/locale/de/LC_MESSAGES/bash.mo", 200_000),
        file("usr/share/locale/locale.alias", 3_000),
        file("var/cache/apt/archives/x.deb", 8 * MB),
        file("var/cache/apt/archives/lock", 0),
        file("var/cache/apt/pkgcache.bin", 2 * MB),
        file("var/lib/apt/lists/mirror.example_debian_dists_bookworm_main_binary-amd64_Packages.lz4", 9 * MB),
        file("var/lib/apt/lists/lock", 0),
        file("var/lib/apt/lists/partial/half-done", 1 * MB),
        file(f"{SITE}/_pytest/python.py", 400_000),
        file(f"{SITE}/pytest-8.0.0.dist-info/RECORD", 10_000),
        file(f"{SITE}/numpy/core/multiarray.so", 5 * MB),
        file(f"{SITE}/numpy/tests/test_core.py", 700_000),
        file(f"{SITE}/numpy/__pycache__/core.cpython-311.pyc", 50_000),
        file("usr/local/lib/python3.11/__pycache__/os.cpython-311.pyc", 40_000),
        file("app/main.py", 1_000),
        file("app/__pycache__/main.cpython-311.pyc", 2_000),
        file("app/tests/test_main.py", 3_000),
        file("app/data.bin", 10 * MB),
        file("app/node_modules/@scope/pkg/test/a.js", 4_000),
    ]
    packages = [
        deb("bash", "5.2.15-2+b2", "/bin/bash", "/usr/share/doc/bash/NEWS.gz"),
        deb(
            "gcc-12",
            "12.2.0-14",
            "/usr/bin/gcc-12",
            "/usr/lib/gcc/x86_64-linux-gnu/12/cc1",
            "/usr/share/doc/gcc-12/changelog.Debian.gz",
        ),
        deb("gcc-12-base", "12.2.0-14", "/usr/share/doc/gcc-12-base/copyright"),
        deb("libgcc-s1", "12.2.0-14", "/usr/lib/x86_64-linux-gnu/libgcc_s.so.1"),
        deb("make", "4.3-4.1", "/bin/make"),
        pypi(
            "pytest",
            "8.0.0",
            f"{SITE}/_pytest/python.py",
            f"{SITE}/pytest-8.0.0.dist-info/RECORD",
            location=f"{SITE}/pytest-8.0.0.dist-info/METADATA",
        ),
        pypi(
            "numpy",
            "1.26.4",
            f"{SITE}/numpy/core/multiarray.so",
            location=f"{SITE}/numpy-1.26.4.dist-info/METADATA",
        ),
    ]
    return image(files, LAYERS), packages


def clean() -> tuple[ImageContents, list[Package]]:
    """A small image with nothing to complain about."""
    files = [
        directory("usr"),
        file("usr/bin/app", 3 * MB),
        file("usr/share/doc/app/copyright", 1_000),
        file("usr/share/locale/locale.alias", 3_000),
    ]
    layers = (layer(0, size=1 * MB, uncompressed_size=3 * MB, files=3, files_bytes=3_004_000),)
    return image(files, layers), [deb("app", "1.0-1", "/usr/bin/app")]
