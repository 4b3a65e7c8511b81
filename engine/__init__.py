"""Parley's engine: topics, their validation, the conversation interpreter and the store.

It knows nothing of HTTP serving; the webhook and the designer build on it.
"""
