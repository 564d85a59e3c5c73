"""Seed 003, a task marketplace (docs/marketplaces.md, ``tasks``).

A customer posts a task; doers — users, or organizations through their members — bid; the
customer accepts a bid (the doer's connected account must be verified), pays the task's escrow
and, when the work is done, completes the task, which releases the escrow to the doer. A doer
whose account is disconnected from the platform loses its open tasks (``sweeps``).
"""
