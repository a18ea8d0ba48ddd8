"""Interactive models behind one contract (base.InteractiveModel), chosen by name (registry)."""
