"""Example third-party ferengine plugins: one of each main kind."""
