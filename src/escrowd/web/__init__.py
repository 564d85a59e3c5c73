"""The web app: server-rendered pages under ``/app`` for payers, payees and admins."""
