//! Hostile archives and locks: every verdict byte reached from the verified digest.
