"""Counterexamples: the event types, the JSON format, text and graph rendering."""
