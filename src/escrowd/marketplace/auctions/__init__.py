"""Seed 004, a secret-threshold art auction (docs/marketplaces.md, ``auctions``).

A seller lists an artwork with a hidden threshold; the first bid at or above it wins and gets
an escrow to pay within 10 minutes; the artwork follows that escrow (sold, or back on sale).
"""
