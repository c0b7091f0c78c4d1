"""Built-in explainers: ``occlusion`` for any model, gradient methods for torch networks."""
