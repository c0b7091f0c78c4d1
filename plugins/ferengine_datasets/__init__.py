"""Built-in dataset plugins of ferengine."""
