"""The image's layers, built once per distinct input and kept in the cache by digest.

A layer's *key* is a digest over everything that decides its bytes: dockwright's version, every
locked .deb's sha256, the accounts, the strip list, the local files (paths, modes and contents),
the layering and the timestamp. A key already in the cache (``ROOT/layers/<key>.json`` naming blobs
that are present) means the layers need not be assembled, tarred or compressed again: a no-change
rebuild only writes a config and a manifest. Layers are written straight into the cache
(temp + fsync + rename by digest) and the image writer links or copies them to the output.

What this module does not do: decide the image config, or write the output image.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from dockwright import __version__
from dockwright.build.accounts import Accounts
from dockwright.build.assemble import assemble
from dockwright.build.localfiles import FILES_ORIGIN, add_local_files, local_files_digest
from dockwright.build.lock import Lock
from dockwright.build.osrelease import os_release_text, write_os_release
from dockwright.build.spec import Spec
from dockwright.fs.tree import Entry, EntryType, FileTree
from dockwright.fsutil import atomic_write_bytes, fsync_dir
from dockwright.net.cache import BlobCache
from dockwright.oci.digest import Digest
from dockwright.oci.image_writer import PrebuiltLayer
from dockwright.oci.layer import LayerInfo, write_layer

__all__ = ["LAYER_FORMAT", "LayerPlan", "build_layers", "layer_key", "split_layers"]

# Part of every layer key: bump it whenever assembly or layering changes the bytes it produces
# for the same inputs, so build caches written by older code are not reused.
LAYER_FORMAT = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerPlan:
    """Everything the layers of one build are made from."""

    spec: Spec
    lock: Lock
    base_dir: Path
    mtime: int

    def accounts(self) -> Accounts:
        """The spec's accounts."""
        return Accounts(users=self.spec.users, groups=self.spec.groups, run_as=self.spec.run_as)


def layer_key(plan: LayerPlan) -> str:
    """The build-cache key of ``plan``'s layers (hex sha256)."""
    spec = plan.spec
    doc = {
        "dockwright": __version__,
        "format": LAYER_FORMAT,
        "architecture": plan.lock.architecture,
        "debs": sorted(p.sha256 for p in plan.lock.packages),
        "os-release": os_release_text(plan.lock.repositories),
        "users": [repr(u) for u in spec.users],
        "groups": [repr(g) for g in spec.groups],
        "strip": list(spec.strip),
        "files": local_files_digest(spec.files, plan.base_dir),
        "layering": spec.layering,
        "mtime": plan.mtime,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def split_layers(tree: FileTree, layering: str) -> list[tuple[str, list[Entry]]]:
    """Split ``tree`` into (comment, entries) layers: one, or packages then local files."""
    if layering == "single":
        return [("packages and files", list(tree.entries()))]
    base: list[Entry] = []
    files: list[Entry] = []
    for entry in tree.entries():
        (files if entry.origin == FILES_ORIGIN else base).append(entry)
    layers = [("Debian packages", base)]
    if files:
        layers.append(("local files", _with_parents(files, tree)))
    return layers


def _with_parents(entries: list[Entry], tree: FileTree) -> list[Entry]:
    """Add the parent directories of ``entries`` so the layer unpacks on its own."""
    have = {e.path for e in entries}
    extra: dict[str, Entry] = {}
    for e in entries:
        parent = e.path.rpartition("/")[0]
        while parent and parent not in have and parent not in extra:
            found = tree.get(parent)
            if found is not None and found.type is EntryType.DIR:
                extra[parent] = found
            parent = parent.rpartition("/")[0]
    return sorted([*entries, *extra.values()], key=lambda e: e.path.split("/"))


def _index_path(cache: BlobCache, key: str) -> Path:
    return cache.root / "layers" / f"{key}.json"


def _cached(cache: BlobCache, key: str) -> list[PrebuiltLayer] | None:
    try:
        doc = json.loads(_index_path(cache, key).read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    layers = []
    for item in doc["layers"]:
        info = LayerInfo(
            digest=Digest.parse(item["digest"]),
            diff_id=Digest.parse(item["diffID"]),
            size=int(item["size"]),
            uncompressed_size=int(item["uncompressedSize"]),
        )
        path = cache.path(info.digest.hex)
        if path is None or path.stat().st_size != info.size:
            return None
        layers.append(PrebuiltLayer(info=info, path=path, comment=str(item["comment"])))
    return layers


def _remember(cache: BlobCache, key: str, layers: Iterable[PrebuiltLayer]) -> None:
    doc = {
        "layers": [
            {
                "digest": str(p.info.digest),
                "diffID": str(p.info.diff_id),
                "size": p.info.size,
                "uncompressedSize": p.info.uncompressed_size,
                "comment": p.comment,
            }
            for p in layers
        ]
    }
    atomic_write_bytes(_index_path(cache, key), json.dumps(doc, indent=2).encode())


def _write_to_cache(cache: BlobCache, entries: list[Entry], mtime: int, comment: str) -> PrebuiltLayer:
    tmp_dir = cache.root / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="layer-", suffix=".tmp", dir=tmp_dir)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            info = write_layer(entries, out, mtime=mtime)
            out.flush()
            os.fsync(out.fileno())
        final = cache.root / "sha256" / info.digest.hex
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp.replace(final)
        fsync_dir(final.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return PrebuiltLayer(info=info, path=final, comment=comment)


def _overlay(tree: FileTree, plan: LayerPlan) -> None:
    """What goes over the packages before the generated files: os-release, then local files."""
    write_os_release(tree, plan.lock.repositories)
    add_local_files(tree, plan.spec.files, plan.base_dir)


def build_layers(
    plan: LayerPlan,
    *,
    cache: BlobCache,
    fetch: Callable[[], dict[str, Path]],
    use_cache: bool = True,
    stage: Callable[[str], None] = lambda _text: None,
) -> tuple[list[PrebuiltLayer], bool]:
    """Return the layers of ``plan`` (from the cache when possible) and whether it was a hit.

    Args:
        plan: the inputs.
        cache: blob cache (layers are stored in it too).
        fetch: makes every locked .deb available; returns sha256 -> path.
        use_cache: False forces assembly even when the key is cached.
        stage: progress hook.
    """
    key = layer_key(plan)
    if use_cache and (hit := _cached(cache, key)) is not None:
        stage("layers unchanged: reusing the build cache")
        return hit, True
    debs = fetch()
    stage(f"assembling {len(plan.lock.packages)} packages")
    ordered = sorted(plan.lock.packages, key=lambda p: p.name)
    tree = assemble(
        [(p.name, debs[p.sha256]) for p in ordered],
        accounts=plan.accounts(),
        strip=plan.spec.strip,
        arch=plan.lock.architecture,
        overlay=lambda t: _overlay(t, plan),
    )
    stage("writing layers")
    layers = [
        _write_to_cache(cache, entries, plan.mtime, comment)
        for comment, entries in split_layers(tree, plan.spec.layering)
    ]
    _remember(cache, key, layers)
    return layers, False
