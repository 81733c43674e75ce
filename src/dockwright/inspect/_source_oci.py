"""Open an image in an OCI image layout (``oci:DIR[:TAG]``), choosing by tag and platform.

The layout's ``index.json`` may list several manifests, tagged or not, and image indexes (multi-arch
images, nested up to 4 deep). The entries the tag names (or all of them) are expanded into images
with their platforms, skipping attestation manifests and non-image artifacts; exactly one must match
the requested platform, or the error lists the choices. Every JSON blob is verified against its
descriptor before it is parsed; layer blobs are verified while they stream.

What this module does not do: write layouts, follow ``urls`` of foreign layers, or guess the host's
platform when several match (the caller says ``--platform``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dockwright.errors import DigestMismatchError, InputError
from dockwright.inspect._image_source import (
    MAX_JSON,
    ImageSource,
    LayerBlob,
    PlatformSpec,
    check_platform,
    created_by,
    diff_ids,
    load_json,
    parse_config,
)
from dockwright.inspect._layer_stream import LayerStream
from dockwright.oci.descriptor import (
    ANNOTATION_REF_NAME,
    DOCKER_CONFIG,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
)
from dockwright.oci.digest import Digest
from dockwright.oci.image import Index, Manifest
from dockwright.oci.layout import blob_path
from dockwright.oci.reference import OciReference

__all__ = ["open_oci"]

_IMAGES = (OCI_MANIFEST, DOCKER_MANIFEST)
_INDEXES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
_CONFIGS = (OCI_CONFIG, DOCKER_CONFIG)
_MAX_DEPTH = 4
_REFERENCE_TYPE = "vnd.docker.reference.type"  # buildkit marks attestations with this annotation


@dataclass(frozen=True, slots=True)
class _Choice:
    descriptor: Descriptor
    tag: str | None
    platform: PlatformSpec | None

    def __str__(self) -> str:
        return f"{self.tag or '(untagged)'}  {self.platform or 'platform unknown'}  {self.descriptor.digest}"


def open_oci(ref: OciReference, platform: PlatformSpec | None) -> ImageSource:
    """Open the image ``ref`` names in its layout, for ``platform`` if given.

    Raises:
        InputError: not a layout, no such tag, no or several matching images, malformed JSON.
        DigestMismatchError: a manifest, index or config blob is missing or does not match.
    """
    layout = Path(ref.path)
    reference = str(ref)
    index = _read_index(layout, reference)
    tagged = [
        d for d in index.manifests if ref.tag is None or d.annotations.get(ANNOTATION_REF_NAME) == ref.tag
    ]
    if not tagged:
        raise InputError(f"no image tagged {ref.tag!r} in {layout}", hint=f"tags here: {_tags(index)}")
    choices: list[_Choice] = []
    for d in tagged:
        choices += _expand(layout, d, d.annotations.get(ANNOTATION_REF_NAME), 0)
    if platform is not None or len(choices) > 1:
        choices = [_with_platform(layout, c, reference) for c in choices]
    chosen = _choose(choices, platform, reference)
    manifest = _read_manifest(layout, chosen.descriptor, reference)
    config_bytes = _read_json_blob(layout, manifest.config, f"config of {reference}")
    config_dict, config = parse_config(config_bytes, reference)
    check_platform(config, platform, reference)
    ids = diff_ids(config, len(manifest.layers), reference)
    steps = created_by(config, len(manifest.layers))
    layers = tuple(
        LayerBlob(
            index=i,
            digest=str(d.digest),
            size=d.size,
            diff_id=ids[i],
            media_type=d.media_type,
            created_by=steps[i],
        )
        for i, d in enumerate(manifest.layers)
    )
    for blob in layers:
        _layer_file(layout, blob)  # every blob present before anything is streamed

    def opener(blob: LayerBlob) -> LayerStream:
        return blob.stream(open(_layer_file(layout, blob), "rb"))

    return ImageSource(
        reference=reference,
        manifest_digest=str(chosen.descriptor.digest),
        config=config_dict,
        layers=layers,
        opener=opener,
        parallel_layers=True,
    )


def _layer_file(layout: Path, blob: LayerBlob) -> Path:
    if "encrypted" in blob.media_type or "tar" not in blob.media_type:
        raise InputError(f"{blob.what} has media type {blob.media_type!r}, which is not a layer tar")
    path = blob_path(layout, Digest.parse(blob.digest))
    if not path.is_file():
        raise DigestMismatchError(f"{blob.what} blob {blob.digest} is missing from {layout}")
    return path


def _read_small(path: Path, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_JSON + 1)
    except FileNotFoundError:
        raise InputError(f"{what} is missing: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{what} is a directory: {path}") from None
    if len(data) > MAX_JSON:
        raise InputError(f"{what} is larger than {MAX_JSON} bytes: {path}")
    return data


def _read_index(layout: Path, reference: str) -> Index:
    if not layout.is_dir():
        raise InputError(f"{reference}: {layout} is not a directory")
    marker = load_json(_read_small(layout / "oci-layout", "oci-layout file"), f"{layout}/oci-layout")
    version = marker.get("imageLayoutVersion") if isinstance(marker, dict) else None
    if not isinstance(version, str) or not version.startswith("1."):
        raise InputError(f"{layout}/oci-layout does not declare imageLayoutVersion 1.x")
    data = _read_small(layout / "index.json", "index.json")
    try:
        return Index.from_json(data)
    except InputError as exc:
        raise InputError(f"{layout}/index.json is malformed: {exc.message}") from None


def _read_json_blob(layout: Path, descriptor: Descriptor, what: str) -> bytes:
    if descriptor.size > MAX_JSON:
        raise InputError(f"{what} is {descriptor.size} bytes; the limit is {MAX_JSON}")
    path = blob_path(layout, descriptor.digest)
    try:
        with open(path, "rb") as f:
            data = f.read(descriptor.size + 1)
    except (FileNotFoundError, IsADirectoryError):
        raise DigestMismatchError(f"{what} blob {descriptor.digest} is missing from {layout}") from None
    actual = Digest.of(data)
    if actual != descriptor.digest or len(data) != descriptor.size:
        raise DigestMismatchError(
            f"{what} blob {descriptor.digest} ({descriptor.size} bytes) holds "
            f"{'more than ' if len(data) > descriptor.size else ''}{len(data)} bytes with digest "
            f"{actual}: the layout was modified or is corrupt"
        )
    return data


def _read_manifest(layout: Path, descriptor: Descriptor, reference: str) -> Manifest:
    data = _read_json_blob(layout, descriptor, f"manifest of {reference}")
    try:
        manifest = Manifest.from_json(data)
    except InputError as exc:
        raise InputError(f"{reference}: malformed manifest {descriptor.digest}: {exc.message}") from None
    if manifest.config.media_type not in _CONFIGS:
        raise InputError(
            f"{reference}: manifest {descriptor.digest} is not a container image "
            f"(its config has media type {manifest.config.media_type!r})"
        )
    return manifest


def _expand(layout: Path, descriptor: Descriptor, tag: str | None, depth: int) -> list[_Choice]:
    """The images ``descriptor`` stands for: itself, or an index's images (recursively)."""
    if descriptor.annotations.get(_REFERENCE_TYPE) == "attestation-manifest":
        return []
    platform = descriptor.platform
    spec = PlatformSpec.of(platform.os, platform.architecture, platform.variant) if platform else None
    if descriptor.media_type in _IMAGES:
        return [_Choice(descriptor, tag, spec)]
    if descriptor.media_type not in _INDEXES:
        return []
    if depth >= _MAX_DEPTH:
        raise InputError(f"image indexes in {layout} nest deeper than {_MAX_DEPTH}")
    data = _read_json_blob(layout, descriptor, "image index")
    try:
        index = Index.from_json(data)
    except InputError as exc:
        raise InputError(f"malformed image index {descriptor.digest} in {layout}: {exc.message}") from None
    out: list[_Choice] = []
    for child in index.manifests:
        out += _expand(layout, child, tag, depth + 1)
    return out


def _with_platform(layout: Path, choice: _Choice, reference: str) -> _Choice:
    """Fill in a platform the index does not give from the image's config (if it can be read)."""
    if choice.platform is not None:
        return choice
    try:
        manifest = _read_manifest(layout, choice.descriptor, reference)
        _, config = parse_config(_read_json_blob(layout, manifest.config, "config"), reference)
    except (InputError, DigestMismatchError):
        return choice  # reported if this image is the one chosen
    return _Choice(
        choice.descriptor, choice.tag, PlatformSpec.of(config.os, config.architecture, config.variant)
    )


def _choose(choices: list[_Choice], platform: PlatformSpec | None, reference: str) -> _Choice:
    if not choices:
        raise InputError(f"{reference} names no container image (only other artifacts)")
    candidates = choices
    if platform is not None:
        matching = [c for c in choices if c.platform is not None and platform.matches(c.platform)]
        unknown = [c for c in choices if c.platform is None]
        candidates = matching or (unknown if len(choices) == 1 else [])
        if not candidates:
            raise InputError(
                f"{reference} has no image for {platform}; it has:\n" + _listing(choices),
                hint="pass --platform with one of the platforms listed",
            )
    if len(candidates) == 1:
        return candidates[0]
    distinct = {(c.descriptor.digest, c.platform) for c in candidates}
    if len(distinct) == 1:
        return candidates[0]  # one image listed under several tags
    raise InputError(
        f"{reference} holds {len(candidates)} images; choose one:\n" + _listing(candidates),
        hint="add :TAG to the reference or pass --platform OS/ARCH[/VARIANT]",
    )


def _listing(choices: list[_Choice]) -> str:
    return "\n".join(f"  {c}" for c in choices)


def _tags(index: Index) -> str:
    names = sorted(
        {d.annotations[ANNOTATION_REF_NAME] for d in index.manifests if ANNOTATION_REF_NAME in d.annotations}
    )
    return ", ".join(names) or "none"
