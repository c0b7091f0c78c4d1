"""Built-in classical (hand-crafted) features and classifiers of ferengine."""
