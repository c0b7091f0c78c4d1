"""Built-in meta-classifiers: they combine other classifiers of any plugin family."""
