//! Tests of the broker engine: `unit` pins single behaviours; `props` runs random operation
//! sequences against properties, each shown able to fail by a mutation it catches.

mod unit;
