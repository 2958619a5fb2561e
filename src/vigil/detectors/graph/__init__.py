"""Ring detection on the entity graph: the incremental graph and the ring detector."""
