"""One router per resource: forms, QR codes, embed snippet, surveys API, events API."""
