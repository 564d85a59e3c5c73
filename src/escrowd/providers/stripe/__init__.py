"""The Stripe adapter: escrowd's PaymentProvider on the official ``stripe`` SDK (async).

The same adapter talks to real Stripe, to escrowd's in-process sandbox and to localstripe; only
the client built in ``client.py`` differs (base addresses, transport, retries).
"""
