"""A delivery's changed files from the forge's REST API, for the `paths:` filters of a
payload that does not list them all (core.rules): `apis` says, per forge, which endpoint
lists them; `fetch` asks it, bounded; `gate` decides a pending job's paths filter when the
job starts. Nothing here runs while a delivery is answered."""

LISTING_READS: tuple[tuple[str, ...], ...] = (
    ("pull_request", "number"),
    ("pullrequest", "id"),
    ("object_attributes", "iid"),
    ("project", "id"),
    ("project_id",),
    ("installation", "id"),
)
"""The payload paths `apis` reads to name the request (a large body is scanned for these
as well as hookd's facts, for a hook with a paths filter)."""
