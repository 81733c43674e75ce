"""The npm cataloger: packages installed under ``node_modules``, dev flags from lock files.

A package is a ``node_modules/<name>/package.json`` or ``node_modules/@<scope>/<name>/package.json``
(at any depth, nested ``node_modules`` included) with a ``name`` and a ``version``. Its files are
every non-directory entry under its directory that no nested package claims; ``size`` is their sum.

``dev`` comes from the project's lock file: the directory above the outermost ``node_modules`` is
the project; its ``package-lock.json`` (or npm's hidden ``node_modules/.package-lock.json``) marks
development-only packages with ``"dev": true``, in the ``packages`` map keyed by install path
(lockfile v2/v3) or in the nested ``dependencies`` tree (v1). ``devOptional`` is not ``dev``: such
a package is needed in some production installs. Without a lock, ``dev`` is False.

PURL (anchore/syft v1.18.1 ``syft/pkg/cataloger/javascript/package.go`` ``packageURL``): a scoped
name's scope is the namespace, percent-encoded: ``pkg:npm/%40babel/core@7.24.0``; no qualifiers.

This module does not list lock entries that are not installed (an image runs what it holds; a
``--omit=dev`` install leaves dev entries in the lock), does not catalog a project's own
``package.json`` outside ``node_modules``, and does not read yarn, pnpm or bun lock files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from dockwright.inspect.catalog.distro import purl
from dockwright.inspect.catalog.history import file_span
from dockwright.inspect.model import FileKind, ImageContents, Package, Warning_

__all__ = ["catalog", "package_root", "wanted"]

_MODULES = "node_modules/"
_MANIFEST = "/package.json"
_LOCKS = ("package-lock.json", "node_modules/.package-lock.json")


def wanted(path: str) -> bool:
    """Tell whether the npm cataloger needs the bytes of ``path`` (suffix and substring checks)."""
    if path.endswith(_MANIFEST):
        return _MODULES in path
    return path.endswith("package-lock.json") and path.rpartition("/")[2] in (
        "package-lock.json",
        ".package-lock.json",
    )


def package_root(path: str) -> str:
    """Return the package directory a path under ``node_modules`` belongs to, ``""`` if none.

    Args:
        path: an image path such as ``app/node_modules/@a/b/lib/x.js``.

    Returns:
        ``app/node_modules/@a/b`` for that example; ``""`` for paths outside any package directory
        (``node_modules/.bin/x``, ``node_modules/@a`` itself).
    """
    at = path.rfind(_MODULES)
    if at < 0:
        return ""
    head, rest = path[: at + len(_MODULES)], path[at + len(_MODULES) :].split("/")
    if rest[0].startswith("@"):
        return head + rest[0] + "/" + rest[1] if len(rest) >= 2 and rest[1] else ""
    return head + rest[0] if rest[0] and not rest[0].startswith(".") else ""


def _project(directory: str) -> str:
    return directory[: directory.find(_MODULES)].rstrip("/")


def _load(data: bytes, path: str, warnings: list[Warning_]) -> dict[str, object] | None:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as error:
        message = f"{path}: not valid JSON ({error}); skipped"
        warnings.append(Warning_(code="npm-json-malformed", message=message, path=path))
        return None
    if not isinstance(value, dict):
        warnings.append(Warning_(code="npm-json-malformed", message=f"{path}: not a JSON object", path=path))
        return None
    return value


def _v1_dev(dependencies: object, prefix: str) -> Iterator[tuple[str, bool]]:
    if not isinstance(dependencies, dict):
        return
    for name, entry in dependencies.items():
        if isinstance(entry, dict):
            key = f"{prefix}node_modules/{name}"
            yield key, entry.get("dev") is True
            yield from _v1_dev(entry.get("dependencies"), key + "/")


def _dev_flags(lock: dict[str, object]) -> dict[str, bool]:
    """Install path (``node_modules/a/node_modules/b``) to its ``dev`` flag."""
    packages = lock.get("packages")
    if isinstance(packages, dict):
        return {k: isinstance(v, dict) and v.get("dev") is True for k, v in packages.items() if k}
    return dict(_v1_dev(lock.get("dependencies"), ""))


def _locks(
    contents: ImageContents, projects: set[str], warnings: list[Warning_]
) -> dict[str, tuple[str, dict[str, bool]]]:
    found = {}
    for project in sorted(projects):
        for name in _LOCKS:
            path = f"{project}/{name}" if project else name
            data = contents.contents.get(path)
            lock = _load(data, path, warnings) if data is not None else None
            if lock is not None:
                found[project] = (path, _dev_flags(lock))
                break
    return found


def _licenses(manifest: dict[str, object]) -> tuple[str, ...]:
    value = manifest.get("license")
    values = manifest.get("licenses") if value is None else [value]
    found = []
    for item in values if isinstance(values, list) else []:
        text = item.get("type") if isinstance(item, dict) else item
        if isinstance(text, str) and text.strip():
            found.append(text.strip())
    return tuple(found)


def _files(contents: ImageContents, roots: set[str]) -> dict[str, tuple[list[str], int]]:
    owned: dict[str, tuple[list[str], int]] = {root: ([], 0) for root in roots}
    if not owned:
        return owned  # no packages: no need to go through every file of the image
    for path, record in contents.files.items():
        if record.kind is FileKind.DIR or _MODULES not in path:
            continue
        root = package_root(path)
        if root in owned and path != root:
            paths, size = owned[root]
            paths.append(path)
            owned[root] = (paths, size + (record.size if record.kind is FileKind.FILE else 0))
    return owned


def _manifests(contents: ImageContents, warnings: list[Warning_]) -> dict[str, dict[str, object]]:
    found = {}
    for path in sorted(contents.contents):
        if not path.endswith(_MANIFEST) or package_root(path) != path[: -len(_MANIFEST)]:
            continue
        manifest = _load(contents.contents[path], path, warnings)
        name, version = (manifest or {}).get("name"), (manifest or {}).get("version")
        if manifest is not None and isinstance(name, str) and name and isinstance(version, str) and version:
            found[path[: -len(_MANIFEST)]] = manifest
    return found


def catalog(contents: ImageContents, warnings: list[Warning_]) -> list[Package]:
    """List the npm packages installed in the image.

    Args:
        contents: the image contents, read with :func:`wanted` among the wanted paths.
        warnings: receives a warning for every manifest or lock file that is not valid JSON.

    Returns:
        The packages, by directory.
    """
    manifests = _manifests(contents, warnings)
    locks = _locks(contents, {_project(d) for d in manifests}, warnings)
    owned = _files(contents, set(manifests))
    packages = []
    for directory, manifest in manifests.items():
        name, version = str(manifest["name"]), str(manifest["version"])
        scope, _, bare = name.rpartition("/")
        project = _project(directory)
        lock_path, flags = locks.get(project, ("", {}))
        key = directory[len(project) + 1 :] if project else directory
        span = file_span(contents, directory + _MANIFEST)
        paths, size = owned[directory]
        metadata = {"size_from": "files"} | ({"lock": lock_path} if lock_path else {})
        packages.append(
            Package(
                name=name,
                version=version,
                type="npm",
                purl=purl("npm", scope, bare, version, {}),
                licenses=_licenses(manifest),
                files=tuple(sorted(paths)),
                size=size,
                layer_added=span.added,
                layer_changed=span.changed,
                location=directory + _MANIFEST,
                dev=flags.get(key, False),
                metadata=metadata,
            )
        )
    return packages
