//! labels (in progress)
