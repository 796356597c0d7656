"""One notification per run: the message (pure), its sending (Apprise) and URL masking.

`message` imports nothing beyond the standard library; `send` and `urls` import Apprise
(about 0.1 s), so a command imports them only when it has URLs to notify.
"""
