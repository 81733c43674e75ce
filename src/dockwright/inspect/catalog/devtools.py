"""Which packages are development or test tools rather than things an application runs.

A documented list, shared by the dpkg and Python catalogers, so that ``Package.dev`` means the same
everywhere: compilers and their drivers, build tools, headers (``*-dev``), linters, formatters, type
checkers, test runners and their plugins. Libraries that some programs need at run time are left out
even when they mostly serve tools (``gcc-12-base``, ``libgcc-s1``, ``mypy-extensions``, ``pluggy``).

This module does not look at files or dependencies (a package only a dev tool pulls in is not
flagged), does not decide npm dev packages (the lock file's ``dev`` flags do), and is not a policy:
reports show the flag; what to do about it is the user's call.
"""

from __future__ import annotations

import re

__all__ = ["DEB_DEV_NAMES", "PYTHON_DEV_NAMES", "is_dev_deb", "is_dev_python"]

DEB_DEV_NAMES = frozenset(
    {
        # compilers, their drivers and toolchains
        "build-essential",
        "binutils",
        "libbinutils",
        "libctf0",
        "libctf-nobfd0",
        "libgprofng0",
        "libc-dev-bin",
        "libc6-dev",
        "linux-libc-dev",
        "libcrypt-dev",
        "libnsl-dev",
        "libtirpc-dev",
        "rpcsvc-proto",
        "libcc1-0",
        "libasan8",
        "liblsan0",
        "libtsan2",
        "libubsan1",
        "libhwasan0",
        "dpkg-dev",
        "make",
        "cmake",
        "ninja-build",
        "meson",
        "autoconf",
        "automake",
        "autotools-dev",
        "libtool",
        "pkg-config",
        "pkgconf",
        "patch",
        "bison",
        "flex",
        "gdb",
        # Python test and lint tools as Debian packages them
        "python3-pytest",
        "python3-tox",
        "tox",
        "python3-nox",
        "python3-coverage",
        "python3-mypy",
        "mypy",
        "python3-flake8",
        "flake8",
        "python3-black",
        "black",
        "pylint",
        "python3-pylint",
        "python3-hypothesis",
        "python3-isort",
        "isort",
        "python3-setuptools-scm",
    }
)
# gcc-12, g++-12, cpp-12, clang-16, ... but never gcc-12-base (a run-time dependency of libgcc-s1).
_DEB_TOOLCHAIN = re.compile(
    r"(?:gcc|g\+\+|cpp|clang|gfortran|llvm)(?:-[0-9]+(?:\.[0-9]+)?)?"
    r"|binutils-.+|lib(?:gcc|stdc\+\+|gfortran|objc)-[0-9]+-dev|python3-pytest-.+"
)

PYTHON_DEV_NAMES = frozenset(
    {
        "pytest",
        "tox",
        "nox",
        "coverage",
        "mypy",
        "ruff",
        "flake8",
        "pyflakes",
        "pycodestyle",
        "black",
        "pylint",
        "isort",
        "hypothesis",
        "bandit",
        "pre-commit",
        "setuptools-scm",
        "pip-tools",
        "pyright",
        "pytest-cov",
    }
)


def is_dev_deb(name: str) -> bool:
    """Tell whether the Debian package ``name`` is a development or test tool.

    Args:
        name: a binary package name, without ``:arch``.

    Returns:
        True for the names in :data:`DEB_DEV_NAMES`, versioned compilers (``gcc-12``), ``binutils-*``,
        compiler support headers, ``python3-pytest-*`` plugins and every ``*-dev`` package.
    """
    return name in DEB_DEV_NAMES or name.endswith("-dev") or _DEB_TOOLCHAIN.fullmatch(name) is not None


def is_dev_python(name: str) -> bool:
    """Tell whether the Python distribution ``name`` is a development or test tool.

    Args:
        name: a normalized distribution name (lower case, runs of ``-_.`` as ``-``).

    Returns:
        True for the names in :data:`PYTHON_DEV_NAMES`, pytest plugins (``pytest-*``), flake8
        plugins (``flake8-*``) and typing stubs (``types-*``, ``*-stubs``).
    """
    return (
        name in PYTHON_DEV_NAMES
        or name.startswith(("pytest-", "flake8-", "types-"))
        or name.endswith("-stubs")
    )
