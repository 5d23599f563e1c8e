"""Treatment protocols and eligibility rules as data (clinical-reference.md sections 3-5).

One JSON file per protocol (`<key>.json`): drug, route, dose rule, weight basis, session
schedule, measurement schedule, monitoring intervals, alert thresholds and discharge
criteria, each section with its "source" and whether that source is "verified" (false when
the reference saw it only in secondary sources or it is a ketaclinic default).
`eligibility-rules.json` holds the eligibility rules and the default trial policy read by
`ketaclinic.clinical.eligibility`.

Every load is validated so that a mistyped file fails loudly (ProtocolError naming the
file and field) rather than dosing or monitoring from a wrong number. The numeric limits
below are plausibility guards against typing errors, not clinical limits. Pure Python: no
Django imports. Loads are cached; callers get a fresh copy they may change.
"""
