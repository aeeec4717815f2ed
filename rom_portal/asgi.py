"""ASGI entry point for uvicorn workers: settings come from the environment (``rom-portal serve`` sets it up)."""

from rom_portal.app import create_app
from rom_portal.settings import load_settings

app = create_app(load_settings())
