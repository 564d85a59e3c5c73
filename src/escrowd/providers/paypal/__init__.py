"""PayPal (REST v2 Orders and Payments, v1 Payouts) over httpx: typed shapes and a client.

Not yet behind the generic ``PaymentProvider`` interface: see docs/providers.md.
"""
