"""escrowd: escrow and payouts for two-sided marketplaces."""

__version__ = "0.1.0"
