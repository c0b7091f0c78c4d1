"""Built-in face detectors, landmarkers and landmark alignment (the ``faces`` entry point)."""
