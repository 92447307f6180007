"""FastAPI service: tickets from violations, officer review, evidence download. Built by ``create_app``."""
