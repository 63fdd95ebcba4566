"""Use cases over the database. Pages and web routes call these; they call
domain and models. Nothing here imports Reflex."""
