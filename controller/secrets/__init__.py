"""Secrets from the repo: age-encrypted .env files, decrypted on the controller in memory.

files.py finds a host's files (secrets/<svc>.env.age, secrets/<host>/<svc>.env.age);
keys.py loads the identity and the recipients; crypt.py decrypts and encrypts (pyrage:
no crypto of our own); host.py gives a host's job its secrets; edit.py and check.py are
`fleet secrets edit` and `fleet secrets check`. The plaintext is never written on the
controller (edit's temporary file excepted, 0600 and removed), logged or reported.
"""
