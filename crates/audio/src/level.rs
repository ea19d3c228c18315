//! Level metering for meters: RMS and peak over 100 ms windows (at most 10 readings a second,
//! PROTOCOL §6.2).

use crate::SAMPLE_RATE;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    pub rms: f32,
    pub peak: f32,
}

#[derive(Debug)]
pub struct LevelMeter {
    window: usize,
    count: usize,
    sum_sq: f64,
    peak: f32,
}

impl Default for LevelMeter {
    fn default() -> Self {
        LevelMeter::new(SAMPLE_RATE as usize / 10)
    }
}

impl LevelMeter {
    pub fn new(window: usize) -> Self {
        LevelMeter { window: window.max(1), count: 0, sum_sq: 0.0, peak: 0.0 }
    }

    /// Feeds samples; returns one reading per completed window.
    pub fn push(&mut self, samples: &[f32]) -> Vec<Level> {
        let mut out = Vec::new();
        for &s in samples {
            self.sum_sq += f64::from(s) * f64::from(s);
            self.peak = self.peak.max(s.abs());
            self.count += 1;
            if self.count == self.window {
                out.push(Level { rms: (self.sum_sq / self.window as f64).sqrt() as f32, peak: self.peak });
                (self.count, self.sum_sq, self.peak) = (0, 0.0, 0.0);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_readings_a_second() {
        let mut m = LevelMeter::default();
        let square: Vec<f32> = (0..16_000).map(|i| if i % 2 == 0 { 0.5 } else { -0.5 }).collect();
        let levels = m.push(&square);
        assert_eq!(levels.len(), 10);
        assert!((levels[0].rms - 0.5).abs() < 1e-6 && levels[0].peak == 0.5);
        assert!(m.push(&[0.9; 100]).is_empty());
    }
}
