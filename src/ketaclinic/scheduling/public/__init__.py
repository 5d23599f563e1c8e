"""The public front door: the clinic's visit page and the appointment request form."""
