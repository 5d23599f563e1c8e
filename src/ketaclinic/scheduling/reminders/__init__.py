"""Appointment reminders by email and text message (`ketaclinic reminders send`)."""
