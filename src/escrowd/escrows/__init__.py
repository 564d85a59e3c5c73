"""Escrows: money held for a deal and released, refunded or expired exactly once.

``domain`` holds the pure rules (the state machine in ``states``, fees in ``fees``); it imports
no infrastructure, so importing this package pulls nothing in.
"""
