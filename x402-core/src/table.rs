//! table (in progress)
