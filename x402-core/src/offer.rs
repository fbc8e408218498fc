//! offer (in progress)
