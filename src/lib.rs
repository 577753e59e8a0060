//! The 1022 ingestion gateway.
