"""Inspect any image: SBOMs, layer attribution, wasted space, dev/test baggage, diffs."""
