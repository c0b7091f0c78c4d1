"""Example third-party ferengine plugin."""
