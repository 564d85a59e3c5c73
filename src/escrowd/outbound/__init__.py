"""Outbound webhooks: escrowd's events, signed (Standard Webhooks), POSTed to the marketplace.

docs/outbound-webhooks.md is the guide; ``tasks.register`` adds the fan-out sweep and the
delivery job to the process's registry.
"""
