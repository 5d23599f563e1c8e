"""Scheduling settings: appointment types, chairs and rooms, opening hours and closed
days, providers' working hours and licenses."""
