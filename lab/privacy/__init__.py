"""PII detection and masking for text (and, in the browser, images): the server's second line.

`lab.privacy.scrub` scrubs captured events at ingest; `lab.privacy.scrub_text` scrubs
training text. (The function `scrub_text` lives in both; import it from its module, since the
package attribute of that name is the submodule.)
"""

from lab.privacy.scrub import ScrubReport, luhn_valid, scrub_value

__all__ = ["ScrubReport", "luhn_valid", "scrub_value"]
