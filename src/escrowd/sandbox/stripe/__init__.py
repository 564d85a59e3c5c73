"""A Stripe-compatible emulator served in process (docs/sandbox.md).

Layout: ``wire`` (form decoding), ``params`` (parameter schemas), ``errors`` (Stripe's error
objects), ``store`` (JSON documents in the sandbox tables), ``router`` (dispatch, idempotency,
expansion), ``resources/*`` (one module per Stripe resource), ``hosted/*`` (the HTML test
pages), ``due`` (what the clock makes happen), ``webhooks`` (signed delivery).
"""
