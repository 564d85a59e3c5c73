"""Notifications: in-app notifications made from events, and their emails (docs/notifications.md).

- :mod:`~escrowd.notifications.domain`: notification types and the rules (event type string →
  who is told what); pure.
- :mod:`~escrowd.notifications.sweep`: the ``notifications.events`` sweep that makes them from
  new events, exactly once, and enqueues their emails.
- :mod:`~escrowd.notifications.emails`: the ``notifications.email`` job (Jinja2 templates under
  ``templates/``); :mod:`~escrowd.notifications.mail`: SMTP or a folder.
- :mod:`~escrowd.notifications.service`, ``routes``, ``schemas``, ``models`` (migration 0016).
"""
