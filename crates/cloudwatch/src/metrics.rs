//! Metrics and their `PutMetricData` requests.

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};

/// Metrics per `PutMetricData` request: the API's limit.
pub(crate) const MAX_PER_REQUEST: usize = 1000;
/// Estimated bytes per request: the API takes 1 MiB; with the estimate below, 1,000 metrics
/// of two short dimensions fit in one request.
const MAX_REQUEST_BYTES: usize = 900 * 1024;

/// The unit CloudWatch stores with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A number of things: records, errors.
    Count,
    /// A duration.
    Seconds,
}

impl Unit {
    fn standard(self) -> StandardUnit {
        match self {
            Unit::Count => StandardUnit::Count,
            Unit::Seconds => StandardUnit::Seconds,
        }
    }
}

/// One value of one metric, sent to the sink's namespace with the time of sending.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// The metric's name: `RecordsProcessed`, `Errors`, `Duration`.
    pub name: String,
    /// The value (finite).
    pub value: f64,
    /// Its unit.
    pub unit: Unit,
    /// Name and value of each dimension, e.g. `("Entity", "Sales"), ("Phase", "load")`.
    pub dimensions: Vec<(String, String)>,
}

impl Metric {
    /// `RecordsProcessed` (Count) of one entity in one phase.
    pub fn records_processed(entity: &str, phase: &str, records: u64) -> Metric {
        Metric::of(
            "RecordsProcessed",
            records as f64,
            Unit::Count,
            entity,
            phase,
        )
    }

    /// `Errors` (Count) of one entity in one phase.
    pub fn errors(entity: &str, phase: &str, errors: u64) -> Metric {
        Metric::of("Errors", errors as f64, Unit::Count, entity, phase)
    }

    /// `Duration` (Seconds) of one entity's phase.
    pub fn duration(entity: &str, phase: &str, seconds: f64) -> Metric {
        Metric::of("Duration", seconds, Unit::Seconds, entity, phase)
    }

    /// A metric with the dimensions `Entity` and `Phase`.
    fn of(name: &str, value: f64, unit: Unit, entity: &str, phase: &str) -> Metric {
        Metric {
            name: name.into(),
            value,
            unit,
            dimensions: vec![
                ("Entity".into(), entity.into()),
                ("Phase".into(), phase.into()),
            ],
        }
    }

    /// The SDK's datum.
    pub(crate) fn datum(&self) -> MetricDatum {
        let dimensions = self
            .dimensions
            .iter()
            .map(|(n, v)| Dimension::builder().name(n).value(v).build())
            .collect();
        MetricDatum::builder()
            .metric_name(&self.name)
            .value(self.value)
            .unit(self.unit.standard())
            .set_dimensions(Some(dimensions))
            .build()
    }

    /// A generous estimate of the metric's size in a request: the Query encoding repeats a
    /// long member key before each field and percent-encodes the values (up to three bytes
    /// for one).
    fn estimated_bytes(&self) -> usize {
        let text: usize = self.dimensions.iter().map(|(n, v)| n.len() + v.len()).sum();
        3 * (self.name.len() + text) + 112 * self.dimensions.len() + 256
    }
}

/// The metrics cut into requests within the API's count and size limits, in their order.
pub(crate) fn requests(metrics: &[Metric]) -> Vec<&[Metric]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, m) in metrics.iter().enumerate() {
        let size = m.estimated_bytes();
        if i > start && (i - start == MAX_PER_REQUEST || bytes + size > MAX_REQUEST_BYTES) {
            out.push(&metrics[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < metrics.len() {
        out.push(&metrics[start..]);
    }
    out
}
