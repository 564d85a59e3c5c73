"""Seed 002, hire an expert (docs/marketplaces.md, ``gigs``).

A client pays an expert for a gig: the card is authorized (not captured) when the gig starts,
captured and released to the expert when it is completed, voided or refunded when it is
cancelled. The platform keeps 10 % and bears the card processor's fee.
"""
