//! Random scripts for differential testing (filled in below).
