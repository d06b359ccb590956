//! Property-test kit for block formats (feature `proptest`).
