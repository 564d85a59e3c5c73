"""Seed 001, the handwork marketplace: jobs, applications, bookings paid through an escrow
(docs/marketplaces.md)."""
