"""Seed 000, a job marketplace with tester slots (docs/marketplaces.md, ``jobs``).

A client drafts a job (budget per tester × testers), publishes it by paying its escrow (one
open allocation per slot), testers claim slots and submit, the client approves (release) or
rejects; disputes go to the core's disputes; cancelling refunds the unclaimed slots.
"""
