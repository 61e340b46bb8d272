"""Provider contracts and one package per vendor (each an adapter behind our own Protocol)."""
