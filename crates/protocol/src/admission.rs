//! Admission (PROTOCOL §10).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionStatus {
    pub permits_total: usize,
    pub permits_available: usize,
    pub permits_in_use: usize,
    pub queued: usize,
}
