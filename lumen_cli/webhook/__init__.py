"""Webhooks: the wire protocol (``protocol``: the sandbox uses only this), the listener
(``listener``) and the sender of test deliveries and forwards (``sender``).

Import from the submodules; this package's own import stays free.
"""
