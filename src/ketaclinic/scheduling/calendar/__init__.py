"""The calendars and booking pages: day, week and provider views, the booking form,
one appointment's page, the provider's calendar feed."""
