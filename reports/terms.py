"""Terms of a post: the tokeniser lives in the shared base (socialear/terms.py), because
storage computes each negative post's terms at ingest with it; re-exported here for the
report engine and its tests."""

from socialear.terms import STOP_WORDS, mention_terms, stored_terms

__all__ = ["STOP_WORDS", "mention_terms", "stored_terms"]
