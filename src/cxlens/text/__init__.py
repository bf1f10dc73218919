"""Voice of the customer: language, sentiment, aspects, topics and PII redaction for feedback text.

Everything runs offline on the CPU; see docs/text.md for the models, the figures and the commands.
"""
