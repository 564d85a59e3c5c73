"""Plan limits: uses counted per owner and calendar month against the owner's plan
(``service``), in ``usage_counters`` and ``usage_records`` (``models``)."""
