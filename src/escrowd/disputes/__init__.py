"""Disputes: a party's complaint about an escrow (or one allocation), reviewed and resolved by
an admin, and the provider's chargebacks (docs/disputes.md)."""
