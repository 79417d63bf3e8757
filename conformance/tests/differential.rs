//! Random differential scripts (below).
