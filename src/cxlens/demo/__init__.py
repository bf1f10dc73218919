"""The synthetic demo retailer: a seeded omnichannel data set with known, planted causes.

:func:`generate` writes every table of the data model as Parquet part files; :data:`PLANTED`
holds the exact parameters of the causes planted in the data, so analytics can be checked
against a known answer.
"""

from cxlens.demo.generator import generate
from cxlens.demo.planted import PLANTED, Planted, planted_for

__all__ = ["PLANTED", "Planted", "generate", "planted_for"]
