"""The hostile-input corpus (one JSON file per kind under corpus/) and what runs it.

See harness.py for the two shapes of a kind (a hostile value, a hostile file or body) and
for what "kept", "repaired", "rejected" and "error" mean for each source kind.
"""
