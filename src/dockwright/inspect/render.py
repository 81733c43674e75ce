"""Rich tables and trees for the inspect reports: layers, waste, largest paths, packages, diffs, gate.

Every function takes a :class:`rich.console.Console` and a finished report and prints to it; none
computes anything beyond formatting (the numbers come from :mod:`dockwright.inspect.waste`,
:mod:`dockwright.inspect.diff` and :mod:`dockwright.inspect.usage`). Text that comes from the image
(paths, package names, commands) is passed as :class:`rich.text.Text` so that brackets in it are
never read as markup.

This module does not decide what to show for which command-line flag (the CLI does) and does not
write JSON (the reports' ``to_dict`` does).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from dockwright.inspect.diff import ImageDiff
from dockwright.inspect.model import Package
from dockwright.inspect.units import format_size
from dockwright.inspect.usage import PathNode, largest_paths
from dockwright.inspect.waste import WasteReport

__all__ = [
    "largest_paths",
    "render_diff",
    "render_gate",
    "render_largest_paths",
    "render_layers",
    "render_packages",
    "render_waste",
]

_SHORT_DIGEST = 12
_BORDERS_AND_PADDING = 5 + 4 * 2  # five vertical rules, one space each side of four columns
_MIN_PATH_WIDTH = 12


def _short(digest: str) -> str:
    """Return the first hex digits of a ``sha256:...`` digest."""
    return digest.partition(":")[2][:_SHORT_DIGEST] or digest[:_SHORT_DIGEST]


def _delta(size: int) -> str:
    """Format a signed byte delta (``+1.2 MB``, ``-300 B``, ``0 B``)."""
    return f"+{format_size(size)}" if size > 0 else format_size(size)


def render_layers(console: Console, report: WasteReport) -> None:
    """Print one row per layer: sizes, files, bytes written and bytes later layers hide.

    Args:
        console: Where to print.
        report: The waste report.
    """
    table = Table(title="Layers", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("digest")
    table.add_column("compressed", justify="right")
    table.add_column("uncompressed", justify="right")
    table.add_column("files", justify="right")
    table.add_column("written", justify="right")
    table.add_column("reclaimable", justify="right")
    table.add_column("created by", overflow="ellipsis", no_wrap=True, max_width=40)
    for layer in report.layers:
        table.add_row(
            str(layer.index),
            _short(layer.digest),
            format_size(layer.size),
            format_size(layer.uncompressed_size),
            str(layer.files),
            format_size(layer.files_bytes),
            format_size(layer.reclaimable_bytes),
            Text(layer.created_by),
        )
    console.print(table)


def _category_table(console: Console, report: WasteReport, paths: int) -> Table:
    """Build the table of waste categories with their largest paths."""
    table = Table(title="Waste", title_justify="left")
    titles = ["reclaimable", "total", *(category.title for category in report.categories)]
    widths = (max(map(len, titles)), 6, 10)
    table.add_column("category", min_width=widths[0])
    table.add_column("files", justify="right", min_width=widths[1])
    table.add_column("would save", justify="right", min_width=widths[2])
    # Long paths are cut, not wrapped: give "largest" what the other columns and borders leave.
    room = console.width - sum(widths) - _BORDERS_AND_PADDING
    table.add_column("largest", no_wrap=True, overflow="ellipsis", max_width=max(_MIN_PATH_WIDTH, room))
    table.add_row("reclaimable", "", format_size(report.reclaimable_bytes), "overwritten or deleted later")
    for category in report.categories:
        largest = "\n".join(f"{format_size(item.size):>9}  {item.path}" for item in category.paths[:paths])
        table.add_row(category.title, str(category.files), format_size(category.bytes), Text(largest))
    table.add_section()
    table.add_row("total", "", format_size(report.wasted_bytes), "")
    return table


def _dev_table(report: WasteReport) -> Table:
    """Build the table of dev/test packages with the bytes of their files."""
    table = Table(title="Dev/test packages", title_justify="left")
    for column in ("name", "version", "type", "reason"):
        table.add_column(column)
    table.add_column("files", justify="right")
    table.add_column("size", justify="right")
    for package in report.dev_packages:
        table.add_row(
            Text(package.name),
            Text(package.version),
            package.type,
            package.reason,
            str(package.files),
            format_size(package.bytes),
        )
    return table


def render_waste(console: Console, report: WasteReport, *, paths: int = 3) -> None:
    """Print the efficiency summary, the baggage categories and the dev packages.

    Args:
        console: Where to print.
        report: The waste report.
        paths: How many of each category's largest paths to list.
    """
    hidden = f"{format_size(report.reclaimable_bytes)} of {format_size(report.shipped_bytes)} shipped"
    console.print(
        Text.assemble(
            ("efficiency ", "bold"), f"{report.efficiency:.1%}", f"  ({hidden} is hidden by later layers)"
        )
    )
    console.print(
        Text.assemble(
            ("could save ", "bold"),
            format_size(report.wasted_bytes),
            f"  of {format_size(report.uncompressed_size)} uncompressed",
        )
    )
    console.print(_category_table(console, report, paths))
    if report.dev_packages:
        console.print(_dev_table(report))


def _node_label(node: PathNode) -> Text:
    """Return ``"  48.2 MB  lib/"``-style text for a tree node."""
    name = node.name + ("/" if node.is_dir and node.path else "")
    return Text.assemble((f"{format_size(node.size):>9}", "bold cyan"), "  ", name)


def render_largest_paths(console: Console, root: PathNode, *, title: str = "Largest paths") -> None:
    """Print the tree from :func:`~dockwright.inspect.usage.largest_paths` like ``du``.

    Args:
        console: Where to print.
        root: The root node.
        title: Printed above the tree.
    """
    tree = Tree(_node_label(root))

    def add(branch: Tree, node: PathNode) -> None:
        for child in node.children:
            add(branch.add(_node_label(child)), child)

    add(tree, root)
    console.print(Text(title, style="bold"))
    console.print(tree)


def render_packages(console: Console, packages: Sequence[Package], *, title: str = "Packages") -> None:
    """Print one row per package, sorted by type and name.

    Args:
        console: Where to print.
        packages: Cataloged packages.
        title: The table title.
    """
    table = Table(title=f"{title} ({len(packages)})", title_justify="left")
    for column in ("name", "version", "type", "arch"):
        table.add_column(column)
    table.add_column("layer", justify="right")
    table.add_column("size", justify="right")
    table.add_column("dev")
    for package in sorted(packages, key=lambda item: (item.type, item.name, item.version)):
        table.add_row(
            Text(package.name),
            Text(package.version),
            package.type,
            Text(package.architecture),
            str(package.layer_added),
            format_size(package.size) if package.size else "",
            "dev" if package.dev else "",
        )
    console.print(table)


def _limited(table: Table, rows: Sequence[tuple[str | Text, ...]], limit: int) -> Table:
    """Add at most ``limit`` rows and a final ``… N more`` row."""
    for row in rows[:limit]:
        table.add_row(*row)
    if len(rows) > limit:
        table.add_row("", Text(f"… {len(rows) - limit} more"))
    return table


def _package_rows(diff: ImageDiff) -> list[tuple[str | Text, ...]]:
    """Return ``(change, name, type, old, new)`` rows of a diff."""
    rows: list[tuple[str | Text, ...]] = []
    for change in (*diff.packages_upgraded, *diff.packages_downgraded):
        mark = "upgraded" if change.direction == "upgraded" else "downgraded"
        rows.append(
            (mark, Text(change.name), change.type, Text(change.old_version), Text(change.new_version))
        )
    rows += [("added", Text(p.name), p.type, "", Text(p.version)) for p in diff.packages_added]
    rows += [("removed", Text(p.name), p.type, Text(p.version), "") for p in diff.packages_removed]
    return rows


def _file_rows(diff: ImageDiff) -> list[tuple[str | Text, ...]]:
    """Return ``(change, path, kind, size delta)`` rows of a diff."""
    rows: list[tuple[str | Text, ...]] = [
        ("added", Text(entry.path), entry.kind, _delta(entry.size)) for entry in diff.files_added
    ]
    rows += [("removed", Text(entry.path), entry.kind, _delta(-entry.size)) for entry in diff.files_removed]
    rows += [
        (", ".join(change.changes), Text(change.path), change.new_kind, _delta(change.size_delta))
        for change in diff.files_changed
    ]
    return rows


def render_diff(console: Console, diff: ImageDiff, *, limit: int = 50) -> None:
    """Print the sizes, package, file and configuration changes between two images.

    Args:
        console: Where to print.
        diff: The diff.
        limit: The most rows per table (a final row says how many were left out).
    """
    console.print(Text(f"{diff.old_reference} → {diff.new_reference}", style="bold"))
    sizes = Table(title="Sizes", title_justify="left")
    for column in ("size", "old", "new", "delta"):
        sizes.add_column(column, justify="left" if column == "size" else "right")
    for size in diff.sizes:
        sizes.add_row(size.name, format_size(size.old), format_size(size.new), _delta(size.delta))
    console.print(sizes)
    if diff.empty:
        console.print("no package, file or configuration changes")
        return
    package_rows, file_rows = _package_rows(diff), _file_rows(diff)
    if package_rows:
        table = Table(title=f"Packages ({len(package_rows)} changed)", title_justify="left")
        for column in ("change", "name", "type", "old", "new"):
            table.add_column(column)
        console.print(_limited(table, package_rows, limit))
    if file_rows:
        table = Table(title=f"Files ({len(file_rows)} changed)", title_justify="left")
        for column in ("change", "path", "kind"):
            table.add_column(column)
        table.add_column("size", justify="right")
        console.print(_limited(table, file_rows, limit))
    if diff.config_changes:
        table = Table(title="Configuration", title_justify="left")
        for column in ("field", "key", "old", "new"):
            table.add_column(column)
        for change in diff.config_changes:
            table.add_row(change.field, Text(change.key), Text(change.old or "-"), Text(change.new or "-"))
        console.print(table)


def render_gate(console: Console, reasons: Sequence[str]) -> None:
    """Print the outcome of ``--fail-on``: one line per violated rule, or that the image passed.

    Args:
        console: Where to print.
        reasons: From :func:`dockwright.inspect.gate.evaluate`.
    """
    if not reasons:
        console.print(Text("✓ --fail-on: passed", style="green"))
        return
    for reason in reasons:
        console.print(Text.assemble(("✗ ", "bold red"), reason))
