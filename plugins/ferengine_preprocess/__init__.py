"""Built-in face preprocessing plugins: images in, images out."""
