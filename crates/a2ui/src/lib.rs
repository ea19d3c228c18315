//! A2UI v0.9 (skeleton; being written).
