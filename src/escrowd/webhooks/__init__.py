"""Webhooks: inbound (provider → escrowd) in inbound.py; outbound (escrowd → integrators) later.

Inbound: ``inbound.router`` verifies and stores deliveries; ``service.process_pending``
dispatches them to the handlers domain modules register in ``handlers``.
"""
