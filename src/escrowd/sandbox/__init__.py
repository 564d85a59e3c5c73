"""escrowd's provider emulators (sandbox mode, the default): no keys, no network.

- ``sandbox.stripe``: a Stripe-compatible API under ``/sandbox/stripe/v1/...`` with hosted test
  pages (card form, 3-D Secure, Connect onboarding, Express dashboard), signed webhooks and a
  test clock. The real Stripe adapter talks to it exactly as it talks to Stripe.
- ``sandbox.clock_routes``: the admin API that moves the sandbox clock.
- ``sandbox.cli``: ``escrowd sandbox clock show|advance``.

See docs/sandbox.md.
"""
