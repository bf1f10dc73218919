"""Data-subject rights over everything a workspace holds about one customer: access (an export of
all of it) and erasure (removed or anonymised everywhere, with an audited receipt).

- :mod:`cxlens.privacy.subject`: who the customer is across both stores (their anonymous ids,
  e-mail addresses, feedback, responses, invitations, ...) and where each kind of row is found;
  the tables come from ``model/schema.py`` and the operational store's models, so new tables
  are covered (a test fails when one holding customer data has no erasure policy).
- :mod:`cxlens.privacy.erase`: the erasure and its receipt.
- :mod:`cxlens.privacy.export`: the access export (a documented JSON layout).
- :mod:`cxlens.privacy.sweep`: a search of every table of both stores for the customer's ids,
  e-mail addresses and texts, run after each erasure to verify it.

The redaction setting (personal data redacted where it lands) lives in
:mod:`cxlens.collect.privacy`.
"""

from cxlens.privacy.erase import Receipt, erase_customer, erasures
from cxlens.privacy.export import export_customer
from cxlens.privacy.subject import Subject, find_subject

__all__ = ["Receipt", "Subject", "erase_customer", "erasures", "export_customer", "find_subject"]
