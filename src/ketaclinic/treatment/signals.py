"""What the treatment domain tells the apps built on it (they register receivers; treatment
never imports them).

`course_ended` is sent by services.course_end inside its transaction, once the course is
marked ended. Payload (keyword arguments):

- `course`: the TreatmentCourse, phase already ENDED;
- `actor`: the User who ended it (permission already checked: treatment.plan_course);
- `reason`: the reason given, stripped, never empty.

Receivers finish what hangs on the course's planned sessions: charting cancels the sessions
not yet started, scheduling cancels their bookings. A receiver may raise ValidationError to
refuse the ending (a session in the chair): the whole transaction is then rolled back.
"""

from django.dispatch import Signal

course_ended = Signal()
