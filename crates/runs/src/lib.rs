//! Run traces (skeleton; being written).
