"""Outcomes across patients: response, remission and durability by route, protocol and
location, compared like for like with published trials (docs/outcomes.md)."""
