"""asyncssh, imported once for the controller: without its DSA notice, without compilers.

cryptography >= 46 deprecates DSA, and asyncssh (2.24) names DSA types while it imports:
ten lines of CryptographyDeprecationWarning on every command's stderr, and an import that
dies under `python -W error`. fleet never offers or accepts a DSA key; only that notice,
raised from asyncssh's own modules, is silenced.

asyncssh also looks for liboqs (post-quantum key exchange) and libnettle (UMAC) with
`ctypes.util.find_library` as it imports. On Linux, a library the loader's cache does not
list then costs a gcc link attempt and an `ld` run each: eleven processes, and about
50 ms of wall time and of CPU on every fleet command, where gcc is installed. While asyncssh
imports, a library is looked for where the dynamic loader itself would find it (its
cache, LD_LIBRARY_PATH, and without a cache the system's library folders), so one that
is installed is still used.
"""

import ctypes.util
import glob
import os
import sys
import sysconfig
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"asyncssh\.")


def _library_folders() -> list[str]:
    """LD_LIBRARY_PATH's folders, and the system's where there is no loader cache (musl):
    glibc's cache already lists what its folders hold."""
    folders = os.environ.get("LD_LIBRARY_PATH", "").split(":")
    if not os.path.exists("/etc/ld.so.cache"):
        multiarch = sysconfig.get_config_var("MULTIARCH") or ""
        folders += ["/usr/local/lib", "/usr/lib", "/lib", "/usr/lib64", "/lib64"]
        if multiarch:
            folders += [f"/usr/lib/{multiarch}", f"/lib/{multiarch}"]
    return [folder for folder in folders if folder]


class FindLibrary(Protocol):
    def __call__(self, name: str) -> str | None: ...


def loader_lookup(loader_cache: Callable[[str], str | None]) -> FindLibrary:
    """find_library as the dynamic loader sees it: `loader_cache(name)` (ldconfig -p),
    else the last-named lib<name>.so* in a library folder; never a compiler."""

    def find_library(name: str) -> str | None:
        found = loader_cache(name)
        if found:
            return found
        for folder in _library_folders():
            candidates = sorted(glob.glob(os.path.join(glob.escape(folder), f"lib{name}.so*")))
            if candidates:
                return candidates[-1]
        return None

    return find_library


@contextmanager
def _no_compiler_lookups() -> Iterator[None]:
    loader_cache = getattr(ctypes.util, "_findSoname_ldconfig", None)
    if not sys.platform.startswith("linux") or loader_cache is None:
        yield  # macOS asks dyld and the BSDs `ldconfig -r`: no compiler there
        return
    original = ctypes.util.find_library
    ctypes.util.find_library = loader_lookup(loader_cache)
    try:
        yield
    finally:
        ctypes.util.find_library = original


with _no_compiler_lookups():
    import asyncssh  # after the filter above, which must stand before it

__all__ = ["asyncssh"]
