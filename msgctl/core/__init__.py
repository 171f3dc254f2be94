"""The backend-agnostic core: every function takes a backend and returns dataclasses or iterators."""
