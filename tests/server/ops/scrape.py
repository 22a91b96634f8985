"""Reading a ``/metrics`` answer in the tests: ``prometheus_client``'s own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition: {(name, sorted labels): value}."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist yet (a counter never moved)."""
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def names(text: str) -> set[str]:
    """Every name a query may use of an exposition's families: the family's, a counter's
    ``_total``, a histogram's ``_bucket``, ``_count`` and ``_sum`` -- whether or not a
    labelled series has a sample yet (a counter no request has moved yet still exists)."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
    found: set[str] = set()
    for family in text_string_to_metric_families(text):
        found.add(family.name)
        found.update(family.name + suffix for suffix in suffixes.get(family.type, ()))
        found.update(sample.name for sample in family.samples)
    return found
