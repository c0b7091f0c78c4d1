"""Built-in face detectors and landmark alignment (the ``faces`` entry point)."""
