"""Result downloads: names and templates (``names``), the ``.part`` file (``part``), fetching
with resume and integrity checks (``fetch``), and provenance sidecars (``sidecar``).

Import from the submodules; this package's own import stays free (it holds one setting).
"""

# Files saved at once while jobs are followed (``--download-workers`` of wait, submit, batch).
DOWNLOAD_WORKERS = 3
