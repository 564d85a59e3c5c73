"""PayPal (REST v2 Orders and Payments, v1 Payouts) over httpx: typed shapes, a client, and
``PayPalProvider`` behind the generic ``PaymentProvider`` interface (docs/providers.md).
"""
