"""Files: the resource and its upload and download (service), text extraction (processing), search and
analysis, over the records they share (records)."""
