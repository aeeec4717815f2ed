"""Thin Starlette endpoints, one module per area."""
