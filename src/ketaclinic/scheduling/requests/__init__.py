"""The coordinator's queue of appointment requests: contact attempts, decisions, and
registering the person as a patient."""
