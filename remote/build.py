"""Build the runner into one zipapp whose bytes depend only on the source.

    python -m remote.build OUT      writes OUT and prints its sha256

The controller calls cached_runner() and names the upload by the hash, so an unchanged
runner is never uploaded twice. Not shipped inside the archive itself.
"""

import ast
import hashlib
import io
import os
import sys
import tokenize
import zipfile
from typing import List, Optional, Tuple

SHEBANG = b"#!/usr/bin/env python3\n"
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644 << 16
UNIX = 3  # ZipInfo.create_system: the same on every build machine
PACKAGE = "remote"
NOT_SHIPPED = ("build.py",)

# Runs first, on whatever python3 the host has: it must parse on Python 2.7 and 3.6
# (no f-strings, no annotations) to refuse clearly instead of with a SyntaxError.
MAIN = b"""\
import gc
import os
import sys

if sys.version_info < (3, 8):
    sys.stderr.write(
        "fleet-runner needs Python 3.8 or newer; this host has %d.%d.%d\\n"
        % tuple(sys.version_info[:3])
    )
    sys.exit(98)

# One run's worth of objects and almost no cyclic garbage: the collector would only walk
# what the imports made, again and again (~2 ms of every start, on every host at once).
gc.disable()


def _unpack(archive):
    # zipimport never caches bytecode, so every start would compile the whole runner
    # again (most of its start-up time). Unpack it once beside the archive, where the
    # interpreter keeps .pyc files; on any failure the archive itself still works. The
    # controller then runs the unpacked copy of this file, which skips zipimport and
    # runpy too.
    target = archive[: -len(".pyz")] + ".d"
    if os.path.isfile(os.path.join(target, "__main__.py")):
        return target
    import shutil
    import zipfile

    temp = "%s.tmp-%d" % (target, os.getpid())
    try:
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(temp)
        os.rename(temp, target)
    except OSError:
        shutil.rmtree(temp, ignore_errors=True)  # another start won the race, or read-only
    return target if os.path.isfile(os.path.join(target, "__main__.py")) else None


_here = os.path.realpath(os.path.dirname(__file__))  # the archive, or its unpacked copy
_code = _unpack(_here) if _here.endswith(".pyz") else _here
if _code:
    sys.path.insert(0, _code)  # -I leaves a script's own folder off sys.path

from remote.cli import main

_code = main()
# os._exit skips the interpreter's teardown (~2 ms of every start, on every host at once);
# nothing is left to it: files are closed, the lock released, only stdio to flush.
for _stream in (sys.stdout, sys.stderr):
    try:
        _stream.flush()
    except (OSError, ValueError):
        pass  # the reader went away: nothing more to tell it
os._exit(_code)
"""


def package_dir() -> str:
    return os.path.dirname(os.path.abspath(__file__))


def runtime_modules(source_dir: Optional[str] = None) -> List[str]:
    """The package's modules the runner needs, as sorted '/'-separated paths relative to
    the package (`cli.py`, `run/stages.py`): every .py of it and its subpackages but this
    one. Walked in sorted order and sorted again, so the file system's order never shows."""
    source_dir = source_dir or package_dir()
    found: List[str] = []
    for folder, subfolders, files in os.walk(source_dir):
        subfolders[:] = sorted(d for d in subfolders if _is_package(os.path.join(folder, d)))
        relative = os.path.relpath(folder, source_dir).replace(os.sep, "/")
        prefix = "" if relative == "." else relative + "/"
        found.extend(prefix + n for n in files if n.endswith(".py"))
    return sorted(name for name in found if name not in NOT_SHIPPED)


def _is_package(folder: str) -> bool:
    """Only real subpackages ship: not __pycache__, not a stray folder without __init__."""
    return os.path.isfile(os.path.join(folder, "__init__.py"))


def read_sources(source_dir: Optional[str] = None) -> List[Tuple[str, bytes]]:
    """(name, bytes) of every runtime module, as the repository has it, in name order."""
    source_dir = source_dir or package_dir()
    sources = []
    for name in runtime_modules(source_dir):
        with open(os.path.join(source_dir, *name.split("/")), "rb") as handle:
            sources.append((name, handle.read()))
    return sources


def build_runner(source_dir: Optional[str] = None) -> Tuple[bytes, str]:
    """The archive's bytes and their sha256 hex digest."""
    return _build(read_sources(source_dir))


def _build(sources: List[Tuple[str, bytes]]) -> Tuple[bytes, str]:
    entries = [("__main__.py", MAIN)]
    entries += [(PACKAGE + "/" + name, stripped(data)) for name, data in sources]
    buffer = io.BytesIO()
    buffer.write(SHEBANG)
    # Stored, not deflated: zlib builds (zlib-ng, say) differ in what they produce, and
    # the hash must not depend on which machine built the runner.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in sorted(entries):
            archive.writestr(_entry(name), data)
    data = buffer.getvalue()
    return data, hashlib.sha256(data).hexdigest()


CACHE_PREFIX = "fleet-runner-src-"


def cached_runner(cache_dir: str, source_dir: Optional[str] = None) -> Tuple[bytes, str]:
    """build_runner()'s result, kept in cache_dir under the hash of what it is made of.

    Stripping the modules (tokenize, ast) costs about 0.1 s of CPU: every controller start
    paid it. Hashing the sources costs about 1 ms. A cache that cannot be written only
    costs the next start a build."""
    sources = read_sources(source_dir)
    path = os.path.join(cache_dir, CACHE_PREFIX + sources_digest(sources) + ".pyz")
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        return data, hashlib.sha256(data).hexdigest()
    except OSError:
        pass
    data, digest = _build(sources)
    try:
        _replace_cache(cache_dir, path, data)
    except OSError:
        pass
    return data, digest


def sources_digest(sources: List[Tuple[str, bytes]]) -> str:
    """The hash of everything the archive is built from: the modules as the repository
    has them, this file (MAIN, the stripping) and the Python that strips them."""
    digest = hashlib.sha256(("%d.%d\n" % sys.version_info[:2]).encode())
    with open(os.path.abspath(__file__), "rb") as handle:
        digest.update(handle.read())
    for name, data in sources:
        digest.update(b"%s\0%d\0" % (name.encode("utf-8"), len(data)))
        digest.update(data)
    return digest.hexdigest()


def _replace_cache(cache_dir: str, path: str, data: bytes) -> None:
    """Write the archive (temp file, rename) and drop the builds of other sources."""
    if not os.path.isdir(cache_dir):
        os.makedirs(cache_dir)
    temp = "%s.%d.tmp" % (path, os.getpid())
    with open(temp, "wb") as handle:
        handle.write(data)
    os.replace(temp, path)
    for name in os.listdir(cache_dir):
        other = os.path.join(cache_dir, name)
        if name.startswith(CACHE_PREFIX) and name.endswith(".pyz") and other != path:
            os.unlink(other)


def stripped(source: bytes) -> bytes:
    """The module without its docstrings and comments, every line where it was (a traceback
    from a host names the line the repository has). The archive travels to every host,
    once per version, over links as slow as 1 Mbit/s: about half of its bytes were prose."""
    lines = source.decode("utf-8").splitlines(keepends=True)
    for first, col, last, end_col in _docstring_spans(ast.parse(source)):
        head = lines[first - 1].encode("utf-8")
        tail = lines[last - 1].encode("utf-8")
        lines[first - 1] = (head[:col] + b'""' + tail[end_col:]).decode("utf-8")
        for number in range(first, last):
            lines[number] = "\n"
    text = "".join(lines)
    return _without_comments(text).encode("utf-8")


def _docstring_spans(tree: ast.Module) -> List[Tuple[int, int, int, int]]:
    """(line, byte column, end line, end byte column) of every docstring."""
    spans = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        first = node.body[0] if node.body else None
        value = first.value if isinstance(first, ast.Expr) else None
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            end_line, end_col = value.end_lineno or value.lineno, value.end_col_offset or 0
            spans.append((value.lineno, value.col_offset, end_line, end_col))
    return spans


def _without_comments(text: str) -> str:
    """Comments cut from their lines (a line of only a comment becomes an empty line)."""
    lines = text.splitlines(keepends=True)
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    for token in tokens:
        if token.type == tokenize.COMMENT:
            row, col = token.start
            line = lines[row - 1]
            ending = "\n" if line.endswith("\n") else ""
            lines[row - 1] = line[:col].rstrip() + ending
    return "".join(lines)


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = FILE_MODE
    info.create_system = UNIX
    return info


def write_runner(path: str) -> str:
    data, digest = build_runner()
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory)
    temp = path + ".tmp"
    with open(temp, "wb") as handle:
        handle.write(data)
    os.chmod(temp, 0o755)  # noqa: S103 - an executable zipapp: world-readable on purpose
    os.replace(temp, path)
    return digest


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m remote.build OUT\n")
        return 2
    print(write_runner(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
