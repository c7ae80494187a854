"""Adapters that put the advisor inside other frameworks. They use only advisor's public API (the
layering test holds them to it) and are the only place those frameworks' types appear."""
