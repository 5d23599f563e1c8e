"""Patients' requests to change or cancel a visit (asked in the portal), and how staff
handle them."""
