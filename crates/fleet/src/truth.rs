//! Ground truth for windows of telemetry, from the label stream: which fault a vehicle had at
//! a given time, and how far it had developed. Training and evaluation of an anomaly model
//! label each feature window with it.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::fault::FaultKind;
use crate::record::Label;
use crate::vin::Vin;

/// What the labels say about a vehicle at a time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WindowTruth {
    /// No fault has started.
    Healthy,
    /// A fault has started but is below its kind's [`FaultKind::faulty_from`]: its symptom is
    /// still within the spread of healthy engines.
    Incipient {
        /// The fault.
        fault: FaultKind,
        /// How far it has developed, 0 to 1.
        severity: f32,
    },
    /// A fault at its kind's [`FaultKind::faulty_from`] or beyond that the conditions hide:
    /// the engine reads what it would with a healthy part ([`Label::masked`]), so no model
    /// can tell this window from a healthy one.
    Masked {
        /// The fault.
        fault: FaultKind,
        /// How far it has developed, 0 to 1.
        severity: f32,
    },
    /// A fault at its kind's [`FaultKind::faulty_from`] or beyond, showing.
    Faulty {
        /// The fault.
        fault: FaultKind,
        /// How far it has developed, 0 to 1.
        severity: f32,
    },
}

/// A labels file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TruthError {
    /// The file cannot be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not a label.
    #[error(
        "{path}:{line}: not a label ({reason}); expected {{\"vin\", \"ts\", \"fault\", \"severity\"}}"
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Every vehicle's labels, in time order.
#[derive(Debug, Default, Clone)]
pub struct GroundTruth {
    by_vin: HashMap<Vin, Vec<Label>>,
}

impl GroundTruth {
    /// The truth the labels tell, in any order.
    pub fn from_labels(labels: impl IntoIterator<Item = Label>) -> GroundTruth {
        let mut by_vin: HashMap<Vin, Vec<Label>> = HashMap::new();
        for label in labels {
            by_vin.entry(label.vin).or_default().push(label);
        }
        for labels in by_vin.values_mut() {
            labels.sort_by_key(|l| l.ts);
        }
        GroundTruth { by_vin }
    }

    /// Reads an NDJSON labels file, as `spate simulate fleet` writes it; blank lines are
    /// skipped, and a malformed line is an error naming it.
    pub fn read_ndjson(path: &Path) -> Result<GroundTruth, TruthError> {
        let io = |source| TruthError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut labels = Vec::new();
        for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(io)?;
            if line.trim().is_empty() {
                continue;
            }
            let label: Label = serde_json::from_str(&line).map_err(|e| TruthError::Malformed {
                path: path.to_path_buf(),
                line: n + 1,
                reason: e.to_string(),
            })?;
            labels.push(label);
        }
        Ok(GroundTruth::from_labels(labels))
    }

    /// The latest label of `vin` at or before `ts`.
    pub fn label_at(&self, vin: &Vin, ts: i64) -> Option<&Label> {
        let labels = self.by_vin.get(vin)?;
        let after = labels.partition_point(|l| l.ts <= ts);
        after.checked_sub(1).map(|i| &labels[i])
    }

    /// The truth about `vin` at `ts`.
    pub fn at(&self, vin: &Vin, ts: i64) -> WindowTruth {
        match self.label_at(vin, ts) {
            None => WindowTruth::Healthy,
            Some(l) if l.severity < l.fault.faulty_from() => WindowTruth::Incipient {
                fault: l.fault,
                severity: l.severity,
            },
            Some(l) if l.masked => WindowTruth::Masked {
                fault: l.fault,
                severity: l.severity,
            },
            Some(l) => WindowTruth::Faulty {
                fault: l.fault,
                severity: l.severity,
            },
        }
    }

    /// When `vin`'s fault started, if it has one.
    pub fn onset(&self, vin: &Vin) -> Option<(FaultKind, i64)> {
        let first = self.by_vin.get(vin)?.first()?;
        Some((first.fault, first.ts))
    }

    /// The vehicles with a fault.
    pub fn faulty_vehicles(&self) -> impl Iterator<Item = &Vin> {
        self.by_vin.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(vin: &str, ts: i64, severity: f32) -> Label {
        Label {
            vin: vin.parse().unwrap(),
            ts,
            fault: FaultKind::VacuumLeak,
            severity,
            masked: false,
        }
    }

    const VIN: &str = "1HGCM82633A004352";

    #[test]
    fn the_latest_label_at_or_before_a_time_holds() {
        let truth = GroundTruth::from_labels([
            label(VIN, 3_000, 0.3),
            label(VIN, 1_000, 0.0),
            label(VIN, 2_000, 0.05),
        ]);
        let vin: Vin = VIN.parse().unwrap();
        assert_eq!(truth.at(&vin, 999), WindowTruth::Healthy);
        assert!(matches!(
            truth.at(&vin, 1_000),
            WindowTruth::Incipient { severity, .. } if severity == 0.0
        ));
        assert!(matches!(
            truth.at(&vin, 2_999),
            WindowTruth::Incipient { severity, .. } if severity == 0.05
        ));
        assert!(matches!(
            truth.at(&vin, 10_000),
            WindowTruth::Faulty { severity, .. } if severity == 0.3
        ));
        assert_eq!(truth.onset(&vin), Some((FaultKind::VacuumLeak, 1_000)));
        let other: Vin = "2HGCM82633A004359".parse().unwrap();
        assert_eq!(truth.at(&other, 10_000), WindowTruth::Healthy);
    }

    #[test]
    fn a_masked_fault_is_neither_faulty_nor_healthy_and_shows_again() {
        let thermostat = |ts, severity, masked| Label {
            fault: FaultKind::ThermostatStuckOpen,
            masked,
            ..label(VIN, ts, severity)
        };
        let truth = GroundTruth::from_labels([
            thermostat(1_000, 0.3, true),
            thermostat(2_000, 0.6, true),
            thermostat(3_000, 0.6, false),
        ]);
        let vin: Vin = VIN.parse().unwrap();
        assert!(matches!(
            truth.at(&vin, 1_500),
            WindowTruth::Incipient { .. }
        ));
        assert!(matches!(
            truth.at(&vin, 2_500),
            WindowTruth::Masked { severity, .. } if severity == 0.6
        ));
        assert!(matches!(truth.at(&vin, 3_000), WindowTruth::Faulty { .. }));
    }

    #[test]
    fn a_label_without_masked_shows() {
        let line = r#"{"vin":"1HGCM82633A004352","ts":5,"fault":"misfire","severity":0.4}"#;
        let label: Label = serde_json::from_str(line).unwrap();
        assert!(!label.masked);
        assert_eq!(serde_json::to_string(&label).unwrap(), line);
    }

    #[test]
    fn a_malformed_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.ndjson");
        let good = serde_json::to_string(&label(VIN, 1, 0.5)).unwrap();
        std::fs::write(&path, format!("{good}\n\n{{\"vin\": 3}}\n")).unwrap();
        let err = GroundTruth::read_ndjson(&path).unwrap_err().to_string();
        assert!(err.contains("labels.ndjson:3:"), "{err}");
    }
}
