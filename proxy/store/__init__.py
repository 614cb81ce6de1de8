"""The SQLAlchemy store: people, training, grants, acknowledgements and addresses."""
