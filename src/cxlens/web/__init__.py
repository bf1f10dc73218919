"""The web layer (FastAPI): public survey forms, QR codes, the embed snippet and the collection API.

Build the app with :func:`cxlens.web.app.create_app`; this package's ``__init__`` imports nothing
so that ``cxlens.web.settings`` stays importable without the web extra.
"""
