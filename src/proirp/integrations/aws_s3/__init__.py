"""AWS S3 (and S3-compatible servers): a bucket with Object Lock, written once and kept."""
