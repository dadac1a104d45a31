//! Merge, strategic merge and JSON patches.
