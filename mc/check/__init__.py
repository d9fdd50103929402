"""Checking scenarios, suites of expectations, mutations and user model files."""
