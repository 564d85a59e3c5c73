"""A PayPal-compatible sandbox (OAuth, Orders v2, Payments v2, Payouts v1) at /sandbox/paypal."""
