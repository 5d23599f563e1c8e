"""Instrument definitions as data: one FHIR-Questionnaire-shaped JSON file per instrument.

Ranges, bands, alert rules and remission defaults follow clinical-reference.md section 2;
each file's "source" names the primary publication. Scoring itself lives in
`ketaclinic.clinical.scoring`. Pure Python: no Django imports here.

A clinic may keep a local folder (env KETACLINIC_INSTRUMENT_OVERRIDES) with `<key>.json`
files that change item wording (matched by linkId) and the remission cut-off, which
clinical-reference.md marks clinic-configurable. Nothing else is taken from them: item
counts, ranges, scoring and alert rules always come from the packaged definitions.
Loads are cached, so a changed override file is read on the next restart.
"""
