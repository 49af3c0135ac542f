"""Result downloads: names and templates (``names``), the ``.part`` file (``part``), fetching
with resume and integrity checks (``fetch``), and provenance sidecars (``sidecar``).

Import from the submodules; this package's own import stays free.
"""
