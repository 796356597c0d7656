"""asyncssh, imported once for the controller with cryptography's DSA notice silenced.

cryptography >= 46 deprecates DSA, and asyncssh (2.24) names DSA types while it imports:
ten lines of CryptographyDeprecationWarning on every command's stderr, and an import that
dies under `python -W error`. fleet never offers or accepts a DSA key; only that notice,
raised from asyncssh's own modules, is silenced.
"""

import warnings

warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"asyncssh\.")

import asyncssh  # noqa: E402  (the filter must stand before the import)

__all__ = ["asyncssh"]
